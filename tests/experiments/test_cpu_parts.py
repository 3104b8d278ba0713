"""The CPU experiment's parts that need no server: the trainable Qwen3 forward against
transformers' Qwen3Model, GRPO's advantages and update, and the response bank's labels."""
import numpy as np
import pytest
import torch

from experiments.saferl.cpu import bank
from experiments.saferl.cpu.policy import BASELINE, StylePolicy, group_advantages
from experiments.saferl.cpu.tiny_qwen3 import TinyQwen3, common_prefix, pad
from safrl.testing import checkpoints


@pytest.mark.parametrize("arch, overrides", [
    ("Qwen3ForCausalLM", {"tie_word_embeddings": True}),
    ("Qwen3ForSequenceClassification", {"num_labels": 1, "pad_token_id": 100}),
])
def test_forward_with_a_shared_prefix_equals_transformers(arch, overrides):
    config = checkpoints.base_config("qwen3", arch, **overrides)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    prefix = torch.randint(0, 100, (9,), generator=g).tolist()
    sequences = [prefix + torch.randint(0, 100, (n,), generator=g).tolist() for n in (3, 7, 5)]
    model = TinyQwen3(config, weights, range(config["vocab_size"]))
    shared = common_prefix(sequences)
    assert shared == prefix
    n = len(shared)
    # Query every position of each sequence's own part (padding repeats the last one).
    query = pad([list(range(len(s) - n)) for s in sequences], 0)
    hidden = model.hidden(shared, pad([s[n:] for s in sequences], 0), query)
    reference = checkpoints.transformers_model(config, weights).model
    for b, s in enumerate(sequences):
        with torch.no_grad():
            want = reference(input_ids=torch.tensor([s])).last_hidden_state[0, n:]
        diff = (hidden[b, :len(s) - n] - want).abs().max().item()
        assert diff < 1e-4, f"sequence {b}: max difference {diff}"


def test_export_scatters_the_trained_rows_back():
    config = checkpoints.base_config("qwen3", "Qwen3ForCausalLM", tie_word_embeddings=True)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(0))
    model = TinyQwen3(config, weights, [5, 9])
    with torch.no_grad():
        model.w["model.embed_tokens.weight"] += 1.0
    embed = model.export()["model.embed_tokens.weight"]
    assert torch.equal(embed[[5, 9]], weights["model.embed_tokens.weight"][[5, 9]] + 1.0)
    assert torch.equal(embed[0], weights["model.embed_tokens.weight"][0])
    with pytest.raises(AssertionError, match="outside used_ids"):
        model.embed_rows(torch.tensor([6]))


def test_group_advantages_are_standardised_within_the_group():
    a = group_advantages([1.0, 0.0, 1.0, 0.0])
    assert a == pytest.approx([1.0, -1.0, 1.0, -1.0], abs=1e-5)
    assert group_advantages([-5.0, -5.0, -5.0]).tolist() == [0.0, 0.0, 0.0]
    b = group_advantages([3.0, -10.0, 2.0])
    assert b.mean() == pytest.approx(0.0, abs=1e-12) and b.std() == pytest.approx(1.0, abs=1e-5)


def test_a_grpo_step_moves_probability_to_the_better_style():
    policy = StylePolicy(lr=0.1)
    key = ("harmful", "non_think")
    before = policy.probs(key)
    policy.update([(key, ["refuse", "comply_unsafe", "safe_redirect", "refuse"],
                    [1.0, 0.0, 0.0, 1.0])])
    after = policy.probs(key)
    assert after["refuse"] > before["refuse"] and after["comply_unsafe"] < before["comply_unsafe"]
    assert policy.probs(("benign", "think")) == pytest.approx(BASELINE[("benign", "think")])


def test_policy_sampling_follows_its_probabilities():
    samples = StylePolicy(lr=0.1).sample(("harmful", "think"), 20000, np.random.default_rng(0))
    share = samples.count("comply_unsafe") / len(samples)
    assert share == pytest.approx(BASELINE[("harmful", "think")]["comply_unsafe"], abs=0.015)


def test_the_bank_is_consistent():
    # Every (prompt, text) has one guard label and one helpfulness target (asserted inside).
    assert len(bank.guard_examples()) == 66 and len(bank.helpfulness_examples()) == 48
    for r in bank.all_responses():
        if r.mode == "think":
            assert r.text.startswith("<think>\n") and r.thinking and r.thinking_verdict
        else:
            assert r.text.startswith("<think>\n\n</think>\n\n") and r.thinking is None
        if r.style == "comply_unsafe":
            assert not r.safe and "[details omitted]" in r.answer
        if r.style == "refuse":
            assert r.safe and r.refusal
    # One safe_redirect response in five is not safe, in each mode of each harmful prompt.
    for p in bank.HARMFUL:
        for mode in bank.MODES:
            redirects = bank.responses(p, mode)["safe_redirect"]
            assert [r.safe for r in redirects].count(False) == 1 and len(redirects) == 5
            assert not any(r.refusal for r in redirects)
