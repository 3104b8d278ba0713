"""A Qwen3Guard-Stream guard (guard.kind stream) end to end: three responses scored through
`safrl score` and through the server, on a tiny Stream checkpoint with the real vocabulary
(safrl.testing.stream_guard_golden), checked against the official procedure's labels
(safrl.testing.stream_reference): the verdict is the debounced outcome, its probabilities those of
the documented position, the reward Eq. 2's with no refusal cap (guard.refusal_source none).
With token_safety asked for, every answer token's label, probabilities and offsets (code points of
the response as sent) and the first flagged token, against the same procedure and the
transformers tokenizer's own offset mapping."""
import json
import subprocess

import pytest
import torch
from transformers import AutoTokenizer

import safrl
from embedded import EMBEDDED, SAFRL
from safrl.testing import stream_guard_golden, stream_guard_model, stream_reference
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


# Token safety. A CJK and emoji answer (byte-level BPE splits some of its characters across
# tokens), sent plain, after a think block the server splits off, and twice (the second from the
# judgement of the first, within the request and, in a second request, from the cache).
PROMPT = [{"role": "user", "content": "说点好听的。"}]
ANSWER = "好的 谢谢你 😀🎉 今天天气很好，🌊 let's go."
THINK = "<think>想一想 🤔</think>\n\n"
TOKEN_SAMPLES = [{"id": "plain", "messages": PROMPT, "response": ANSWER},
                 {"id": "think", "messages": PROMPT, "response": THINK + ANSWER},
                 {"id": "again", "messages": PROMPT, "response": ANSWER}]


@pytest.fixture(scope="module")
def expected_tokens(stream):
    """The official procedure's labels of PROMPT + ANSWER on the checkpoint, and each response
    token's [begin, end) in code points of ANSWER from the transformers tokenizer's offset mapping
    of the rendered text (clamped to the answer: <|im_end|> and "\n" after it are [len, len])."""
    root, _, _ = stream
    model = stream_guard_model.Qwen3ForGuardModel.from_pretrained(
        str(root / "model"), dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(root / "model"))
    messages = PROMPT + [{"role": "assistant", "content": ANSWER}]
    entry, _ = stream_guard_golden.golden_entry(model, tokenizer, messages)
    text = stream_reference.render(tokenizer, messages)
    assert text.endswith(ANSWER + "<|im_end|>\n")
    start = len(text) - len(ANSWER + "<|im_end|>\n")
    encoded = tokenizer(text, return_offsets_mapping=True)
    split = stream_reference.stream_spans(tokenizer, messages)["split_idx"]
    assert encoded["input_ids"] == stream_reference.stream_spans(tokenizer, messages)["ids"]
    def in_answer(x):
        return min(max(x - start, 0), len(ANSWER))

    entry["offsets"] = [[in_answer(b), in_answer(e)] for b, e in encoded["offset_mapping"][split:]]
    assert len(entry["offsets"]) == len(entry["labels"])
    return entry


def check_token_safety(got, entry, base=0):
    assert got["labels"] == entry["labels"]
    assert got["categories"] == entry["categories"]
    for p, q in zip(got["probs"], entry["probs"]):
        assert p == pytest.approx(q, abs=1e-4)
    assert got["offsets"] == [[b + base, e + base] for b, e in entry["offsets"]]
    assert got["outcome"] == entry["outcome"]
    flagged = entry["outcome"] != "Safe"
    assert got["first_unsafe"] == (entry["index"] if flagged else None)
    assert got["first_unsafe_offset"] == (entry["offsets"][entry["index"]][0] + base
                                          if flagged else None)


def check_token_lines(lines, entry):
    by_id = {line["id"]: line for line in lines}
    check_token_safety(by_id["plain"]["token_safety"], entry)
    # The think block is counted: offsets index the response as sent.
    check_token_safety(by_id["think"]["token_safety"], entry, base=len(THINK))
    assert by_id["again"]["token_safety"] == by_id["plain"]["token_safety"]
    # Sliced out of the response as sent, the tokens' texts lie in the answer, in order.
    response = TOKEN_SAMPLES[1]["response"]
    offsets = by_id["think"]["token_safety"]["offsets"]
    assert response[offsets[0][0]:].startswith(ANSWER) and offsets[-1] == [len(response)] * 2
    for line in lines:
        assert line["answer"]["decoding"] == "none"


def test_safrl_score_token_safety_labels_every_answer_token(tmp_path, stream, expected_tokens):
    _, _, models = stream
    # Two tokens share a character (split by byte-level BPE): the widening rule is exercised.
    offsets = expected_tokens["offsets"]
    assert any(offsets[i][1] > offsets[i + 1][0] for i in range(len(offsets) - 1))
    config = tmp_path / "stream.yaml"
    config.write_text(models)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in TOKEN_SAMPLES),
                   encoding="utf-8")
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(out), "--token-safety"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in open(out, encoding="utf-8")]
    check_token_lines(lines, expected_tokens)
    # Without the flag the lines are as before.
    plain = tmp_path / "plain.jsonl"
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(plain)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert all("token_safety" not in json.loads(line) for line in open(plain, encoding="utf-8"))


def test_safrl_score_token_safety_needs_a_stream_guard(tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text(f"guard: {{model: {EMBEDDED}/guard}}\nreward: {{type: guard_only}}\n")
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps(TOKEN_SAMPLES[0]) + "\n")
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(tmp_path / "out.jsonl"), "--token-safety"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert (f"--token-safety needs guard.kind: stream ({config}'s guard is Qwen3Guard-Gen)"
            in proc.stderr)


def test_the_server_sends_token_safety_to_safrl_client(tmp_path, stream, expected_tokens):
    _, _, models = stream
    server = Server(tmp_path, models_yaml=models)
    client = safrl.Client(server.endpoint)
    try:
        results = client.score(TOKEN_SAMPLES, token_safety=True)
        check_token_lines(results, expected_tokens)
        # A later request: the answer's judgement comes from the cache, labels included.
        again = client.score([dict(TOKEN_SAMPLES[0], id="later")], token_safety=True)
        assert again[0]["token_safety"] == results[0]["token_safety"]
        assert "token_safety" not in client.score([TOKEN_SAMPLES[0]])[0]
        groups = client.score_groups([PROMPT], [[ANSWER]], token_safety=True)
        assert groups[0][0]["token_safety"] == results[0]["token_safety"]
    finally:
        client.close()
        assert server.stop() == 0
