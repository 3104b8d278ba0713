"""`safrl forward` on a Qwen3Guard-Stream checkpoint (Qwen3ForGuardModel): the four logit lists
at every position, equal to the transformers reference model's (safrl.testing.stream_guard_model)
on the same ids; a causal LM still answers with its last-position logits."""
import json
import subprocess

import pytest
import torch

from embedded import SAFRL
from safrl.testing import stream_guard_model

NAMES = ("risk_level_logits", "category_logits", "query_risk_level_logits",
         "query_category_logits")
WIDTHS = (3, 8, 3, 9)


def forward(model_dir, lines):
    result = subprocess.run([SAFRL, "forward", "--model", str(model_dir)],
                            input="".join(json.dumps(line) + "\n" for line in lines),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def stream_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream-forward")
    model = stream_guard_model.tiny_stream_guard(seed=7).eval()
    model.save_pretrained(str(out))
    return out, model


def test_every_position_of_every_head_matches_the_reference(stream_checkpoint):
    directory, model = stream_checkpoint
    inputs = [[5, 17, 42, 8, 99, 3, 64], [11]]
    answers = forward(directory, [{"ids": ids} for ids in inputs])
    assert len(answers) == len(inputs)
    for ids, answer in zip(inputs, answers):
        assert sorted(answer) == sorted(NAMES)
        with torch.no_grad():
            expected = model(torch.tensor([ids]))
        for name, width in zip(NAMES, WIDTHS):
            got = torch.tensor(answer[name])
            want = getattr(expected, name)[0].float()
            assert got.shape == (len(ids), width)
            # fp32 on both sides; the engine's own tests hold it to 1e-4 of the largest logit.
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_a_bad_line_is_answered_with_its_error_and_the_next_is_still_run(stream_checkpoint):
    directory, _ = stream_checkpoint
    result = subprocess.run([SAFRL, "forward", "--model", str(directory)],
                            input='{"ids": []}\n{"ids": [1, 2]}\n', capture_output=True,
                            text=True, timeout=120)
    assert "empty" in result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert any(len(a.get("risk_level_logits", [])) == 2 for a in answers)
