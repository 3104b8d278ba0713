"""A Qwen3Guard-Stream guard (guard.kind stream) end to end: three responses scored through
`safrl score` and through the server, on a tiny Stream checkpoint with the real vocabulary
(safrl.testing.stream_guard_golden), checked against the official procedure's labels
(safrl.testing.stream_reference): the verdict is the debounced outcome, its probabilities those of
the documented position, the reward Eq. 2's with no refusal cap (guard.refusal_source none)."""
import json
import subprocess

import pytest

from embedded import EMBEDDED, SAFRL
from safrl.testing import stream_guard_golden
from safrl.testing.live_server import Client, Server

# Golden responses 0, 1 and 3: outcomes Unsafe, Safe and Controversial (the fixture checks that
# its set holds every outcome; these indices are asserted below).
RESPONSES = (0, 1, 3)
OUTCOMES = ("Unsafe", "Safe", "Controversial")


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream-guard")
    # The embedded guard's folder holds the real Qwen3 tokenizer files.
    golden = stream_guard_golden.write_golden(str(root), f"{EMBEDDED}/guard")
    entries = [golden["conversations"][i] for i in RESPONSES]
    assert tuple(e["outcome"] for e in entries) == OUTCOMES
    models = (f"guard: {{model: {root}/model, kind: stream, refusal_source: none}}\n"
              f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
              f"reward: {{type: hybrid}}\n")
    return root, entries, models


def samples(entries):
    out = []
    for i, entry in enumerate(entries):
        messages = entry["messages"]
        out.append({"id": f"s{i}", "messages": messages[:-1], "response": messages[-1]["content"]})
    return out


def expected_probs(entry):
    """The verdict's probabilities by docs/reward.md's rule: at the flagging position, or for a
    Safe outcome at the position with the lowest P(Safe)."""
    probs = entry["probs"]
    if entry["outcome"] != "Safe":
        return probs[entry["index"]]
    return min(probs, key=lambda p: p[0])


def check_line(line, entry):
    answer = line["answer"]
    assert answer["safety"] == entry["outcome"]
    got = [answer["probs"][k] for k in ("Safe", "Unsafe", "Controversial")]
    assert got == pytest.approx(expected_probs(entry), abs=1e-4)
    if entry["outcome"] == "Safe":
        assert answer["categories"] == []
    else:
        assert answer["categories"] == [entry["categories"][entry["index"]]]
    # refusal_source none: never a refusal; Eq. 2 without its refusal cap.
    assert answer["refusal"] is False and answer["refusal_prob"] is None
    assert line["refusal"] is False and line["channels"]["refusal"] == 0
    h = line["helpfulness"]
    if entry["outcome"] == "Safe":
        assert (line["case"], line["reward"]) == ("helpful", pytest.approx(h))
    else:  # Controversial counts as unsafe under the default strict policy
        assert (line["case"], line["reward"]) == ("unsafe", pytest.approx(min(-10.0, h)))


def test_safrl_score_rewards_the_debounced_outcomes(tmp_path, stream):
    _, entries, models = stream
    config = tmp_path / "stream.yaml"
    config.write_text(models)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(s) + "\n" for s in samples(entries)))
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in open(out)]
    assert [line["id"] for line in lines] == ["s0", "s1", "s2"]
    for line, entry in zip(lines, entries):
        check_line(line, entry)


def test_the_server_answers_the_same(tmp_path, stream):
    _, entries, models = stream
    server = Server(tmp_path, models_yaml=models)
    client = Client(server.endpoint)
    try:
        reply = client.call({"v": 2, "id": "r1", "type": "score", "samples": samples(entries)})
        assert reply["type"] == "score", reply
        for result, entry in zip(reply["results"], entries):
            check_line(result, entry)
        # The deep health check runs the Stream guard too.
        info = client.call({"v": 2, "id": "i1", "type": "info", "deep": True})
        assert info["deep_check"] == "ok"
        assert info["models"]["guard"]["architecture"] == "Qwen3ForGuardModel"
        assert info["config"]["guard"]["kind"] == "stream"
    finally:
        client.close()
        assert server.stop() == 0
