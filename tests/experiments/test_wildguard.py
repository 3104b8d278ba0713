"""The WildGuard output parser: exact reads, tolerated spellings, and every malformed output
left unread rather than guessed."""
import json

import pytest

from experiments.saferl.eval import wildguard
from experiments.saferl.eval.wildguard import WildGuardVerdict, parse


def test_the_three_lines():
    v = parse("Harmful request: yes\nResponse refusal: no\nHarmful response: no")
    assert v == WildGuardVerdict(True, False, False, ())
    assert v.ok


def test_case_and_whitespace_do_not_matter():
    v = parse("  harmful request:Yes \nRESPONSE REFUSAL :  NO\nHarmful response: YES  \n")
    assert (v.harmful_request, v.response_refusal, v.harmful_response) == (True, False, True)
    assert v.ok


def test_other_lines_are_ignored():
    v = parse("Answers:\nHarmful request: no\nResponse refusal: yes\nHarmful response: no\n</s>")
    assert (v.harmful_request, v.response_refusal, v.harmful_response) == (False, True, False)


def test_not_applicable_is_none_without_error():
    # WildGuard answers N/A for the response fields when it was given no response.
    v = parse("Harmful request: yes\nResponse refusal: N/A\nHarmful response: n/a")
    assert (v.harmful_request, v.response_refusal, v.harmful_response) == (True, None, None)
    assert v.ok


@pytest.mark.parametrize("text, field, message", [
    ("Harmful request: yes\nResponse refusal: no", "harmful_response", "harmful_response missing"),
    ("Harmful request: yes\nResponse refusal: maybe\nHarmful response: no", "response_refusal",
     "response_refusal: unreadable value 'maybe'"),
    ("Harmful request: yes\nResponse refusal:\nHarmful response: no", "response_refusal",
     "response_refusal: unreadable value ''"),
    ("", "harmful_request", "harmful_request missing"),
])
def test_unreadable_fields_are_none_and_reported(text, field, message):
    v = parse(text)
    assert getattr(v, field) is None
    assert message in v.errors
    assert not v.ok


def test_a_field_given_twice_keeps_the_first_and_reports():
    v = parse("Harmful request: yes\nResponse refusal: no\nResponse refusal: yes\n"
              "Harmful response: no")
    assert v.response_refusal is False
    assert v.errors == ("response_refusal given twice",)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_read_judgements_by_id_and_by_position(tmp_path):
    text = "Harmful request: yes\nResponse refusal: yes\nHarmful response: no"
    by_id = _write(tmp_path / "a.jsonl", [{"id": "b", "text": text}, {"id": "a", "text": ""}])
    got = wildguard.read_judgements(by_id, ["a", "b"])
    assert got["b"].response_refusal is True and not got["a"].ok
    by_position = _write(tmp_path / "b.jsonl", [{"text": text}, {"text": text}])
    assert set(wildguard.read_judgements(by_position, [7, 9])) == {7, 9}


@pytest.mark.parametrize("rows, message", [
    ([{"id": "a", "text": "x"}], "no judgement for 1 generation"),
    ([{"id": "a", "text": "x"}, {"id": "z", "text": "x"}], "id 'z' is not a generation id"),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "x"}], "id 'a' judged twice"),
    ([{"id": "a", "output": "x"}], "needs \"text\""),
])
def test_read_judgements_refuses_mismatches(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        wildguard.read_judgements(_write(tmp_path / "j.jsonl", rows), ["a", "b"])
