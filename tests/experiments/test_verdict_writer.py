"""safrl.testing.verdict_writer at its tiny shape (hidden 64, head_dim 128, the real Qwen3
vocabulary): transformers' greedy decoding after the guard prompt writes the verdict for
conversations of both tasks, short, multi-turn and about 1000 tokens long, and safrl's guard
reads the same verdict with constrained decoding, never leaving the format."""
import json
import os
import subprocess

import pytest
import torch

from safrl.testing import verdict_writer

SAFRL = os.environ["SAFRL_BIN"]
TOKENIZER = os.environ.get("SAFRL_TOKENIZER_DIR", verdict_writer.DEFAULT_TOKENIZER)

# qwen3guard.md section 2: Safety 73037, ':' 25, ' Safe' 22291, '\n' 198, Categories 20970,
# ' None' 2240, Ref 3945, usal 35414, ' No' 2308; <|im_end|> 151645 ends the output.
PROMPT_IDS = [73037, 25, 22291, 198, 20970, 25, 2240, 151645]
RESPONSE_IDS = [73037, 25, 22291, 198, 20970, 25, 2240, 198, 3945, 35414, 25, 2308, 151645]


@pytest.fixture(scope="module")
def safe_guard(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict-writer") / "safe"
    margins = verdict_writer.write(str(out), "tiny", "safe", TOKENIZER)
    return out, margins


def greedy(model_dir, convs):
    texts = verdict_writer.render_guard(SAFRL, convs)
    return verdict_writer.greedy_outputs(str(model_dir), texts)


def test_the_construction_keeps_its_designed_margins(safe_guard):
    _, margins = safe_guard
    # Attention: 10 rotary pairs at q_norm = k_norm = 4.5; each pair's q and k have norm
    # 4.5 * sqrt(128 / 10) after the RMSNorm, so the peak score is 10 * 4.5^2 * 12.8 / sqrt(128)
    # = 229.1 and the worst other distance sits 0.1337 of it lower (the mean of 1 - cos(theta_j)
    # over the 10 fastest frequencies, d - D = +-1): 30.6, less bf16 rounding of the phases.
    assert margins["attention_previous"] == pytest.approx(30.6, abs=0.3)
    assert margins["attention_task"] == pytest.approx(30.6, abs=0.3)
    # Logits: a = 48 / sqrt(64) = 6. The worst contexts hold four features of size 1 (bias,
    # current, previous, task sign), which the final RMSNorm makes sqrt(64 / 4) = 4 each: ":"
    # after "Safety" gives ' Safe' 2a * 4 = 48 and ' None' (the ":" share) a * 4 = 24; ' None'
    # gives its task's successor 2a * 4 + a/2 * 4 = 60 and the other task's 2a * 4 - 12 = 36.
    assert margins["logits"] == pytest.approx(24.0, abs=1e-3)


def test_transformers_greedy_output_is_the_verdict_for_both_tasks(safe_guard):
    model_dir, _ = safe_guard
    convs = verdict_writer.conversations(5)
    results = greedy(model_dir, convs)
    assert max(length for length, _, _ in results) > 900   # the long ones are long
    for conv, (length, ids, text) in zip(convs, results):
        expected = PROMPT_IDS if conv["task"] == "prompt" else RESPONSE_IDS
        assert ids == expected, (conv["task"], length, text)
        assert text == verdict_writer.verdict_texts("safe")[conv["task"]]


def test_bf16_compute_writes_the_verdict_too(safe_guard):
    # A GPU peer computes in bf16: the 24-logit and 30-score margins absorb its rounding.
    model_dir, _ = safe_guard
    convs = verdict_writer.conversations(3, seed=2)
    texts = verdict_writer.render_guard(SAFRL, convs)
    results = verdict_writer.greedy_outputs(str(model_dir), texts, dtype=torch.bfloat16)
    for conv, (_, ids, _) in zip(convs, results):
        assert ids == (PROMPT_IDS if conv["task"] == "prompt" else RESPONSE_IDS)


def test_the_unsafe_variant_writes_unsafe_and_violent(tmp_path):
    verdict_writer.write(str(tmp_path), "tiny", "unsafe", TOKENIZER)
    convs = verdict_writer.conversations(2, seed=1)
    for conv, (_, ids, text) in zip(convs, greedy(tmp_path, convs)):
        expected = "Safety: Unsafe\nCategories: Violent"
        assert text == expected + ("\nRefusal: No" if conv["task"] == "response" else "")
        assert ids[-1] == verdict_writer.IM_END_ID


def score_lines(convs):
    """Score lines from the response-task conversations: the last assistant message is the
    response (every third with a think block, judged as well), the prompt judged too."""
    lines = []
    for i, conv in enumerate(c for c in convs if c["task"] == "response"):
        answer = conv["messages"][-1]["content"]
        response = f"<think>\nthinking {i}\n</think>\n\n{answer}" if i % 3 == 0 else answer
        lines.append({"id": i, "messages": conv["messages"][:-1], "response": response})
    return lines


@pytest.mark.parametrize("decoding", ["constrained", "free"])
def test_safrl_reads_the_verdict_in_the_format_it_decodes(safe_guard, tmp_path, decoding):
    model_dir, _ = safe_guard
    lines = score_lines(verdict_writer.conversations(6))
    inp, out, config = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "guard.yaml"
    inp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config.write_text(f"guard: {{model: {model_dir}, decoding: {decoding}}}\n"
                      "reward: {type: guard_only, judge_prompt: true}\n")
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    scored = [json.loads(line) for line in open(out)]
    assert len(scored) == 6
    texts = verdict_writer.verdict_texts("safe")
    verdicts = [(line["answer"], texts["response"]) for line in scored]
    verdicts += [(line["prompt_verdict"], texts["prompt"]) for line in scored]
    verdicts += [(line["thinking"], texts["response"]) for line in scored if line["thinking"]]
    assert len(verdicts) == 6 + 6 + 2   # thinking in lines 0 and 3
    for verdict, text in verdicts:
        assert verdict["decoding"] == decoding
        assert verdict["text"] == text and verdict["safety"] == "Safe"
        assert verdict["categories"] == []
        # ' Safe' leads the two other labels by 24 logits or more: P(Safe) > 1 - 2e-10.
        assert verdict["probs"]["Safe"] > 1 - 1e-9
    assert all(line["refusal"] is False and line["case"] == "safe" for line in scored)
