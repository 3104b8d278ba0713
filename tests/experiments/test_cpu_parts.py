"""The CPU experiment's parts that need no server: the trainable Qwen3 forward against
transformers' Qwen3Model, the text policy's tokenizer, template, fitting rows and style lookup,
and the response bank's labels."""
import numpy as np
import pytest
import torch

from experiments.saferl.cpu import bank, policy, policy_tokenizer
from safrl.testing import checkpoints
from safrl.testing.tiny_qwen3 import TinyQwen3, common_prefix, pad


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


def test_the_policy_tokenizer_writes_every_bank_text_back_exactly():
    tokenizer = policy_tokenizer.make_tokenizer()
    assert len(tokenizer) < 1100  # the point: a vocabulary of hundreds, not 151,936
    for r in bank.all_responses():
        text = policy.completion(r)
        ids = tokenizer(text + policy.IM_END, add_special_tokens=False)["input_ids"]
        assert ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("mode", bank.MODES)
def test_the_policy_chat_template_renders_as_qwen3s(mode):
    from transformers import AutoTokenizer

    from safrl.testing import toolchain
    qwen3 = AutoTokenizer.from_pretrained(toolchain.tokenizer_dir())
    ours = policy_tokenizer.make_tokenizer()
    for prompt in bank.PROMPTS:
        assert policy.render_prompt(ours, prompt.text, mode) == \
            policy.render_prompt(qwen3, prompt.text, mode)


def test_fit_rows_follow_the_baseline_shares_exactly():
    rows = policy.fit_rows("think", 100, np.random.default_rng(0))
    assert len(rows) == 100 * len(bank.PROMPTS)
    for prompt in bank.PROMPTS:
        styles = [policy.style_of(prompt, "think", text) for p, text in rows if p == prompt.text]
        shares = policy.BASELINE[(prompt.label, "think")]
        assert {s: styles.count(s) for s in set(styles)} == {
            s: round(100 * p) for s, p in shares.items()}


def test_style_of_knows_every_bank_completion_and_nothing_else():
    for r in bank.all_responses():
        assert policy.style_of(r.prompt, r.mode, policy.completion(r) + policy.IM_END) == r.style
    prompt = bank.HARMFUL[0]
    assert policy.style_of(prompt, "non_think", "I can't help with") == policy.OFF_BANK
    # A think-mode completion is the whole output, trace included.
    refusal = bank.responses(prompt, "think")["refuse"][0]
    assert policy.style_of(prompt, "think", refusal.answer) == policy.OFF_BANK


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


def test_the_run_options_keep_the_defaults_and_make_a_longer_run_of_some_arms():
    from experiments.saferl.cpu import run
    args, s, arms = run.parse_args(["out"])
    assert s == run.Settings() and s.steps == 30 and arms == run.ARMS
    args, s, arms = run.parse_args(["out", "--quick"])
    assert s == run.QUICK and (s.steps, s.eval_samples) == (15, 16)
    # --steps changes the steps only: --quick keeps its 16 evaluation samples.
    args, s, arms = run.parse_args(["out", "--quick", "--steps", "120", "--arms",
                                    "hybrid,guard_only"])
    assert (s.steps, s.eval_samples, s.group_size) == (120, 16, 8)
    assert arms == ("hybrid", "guard_only")
    # The expected-safety arm runs only when named.
    assert "hybrid_expected" not in run.ARMS
    assert run.parse_args(["out", "--arms", "hybrid,hybrid_expected"])[2] == (
        "hybrid", "hybrid_expected")


def test_each_arm_gets_its_reward_section_and_only_hybrid_expected_changes_the_signal(tmp_path):
    from experiments.saferl.cpu import run
    paths = run.write_configs(str(tmp_path))
    assert set(paths) == {"guard_only", "hybrid", "helpfulness_only", "hybrid_expected", "eval",
                          "eval_free"}
    reward = {name: next(line for line in open(path) if line.startswith("reward:"))
              for name, path in paths.items()}
    common = "controversial: strict, judge_thinking: true"
    assert reward["guard_only"] == f"reward: {{type: guard_only, {common}}}\n"
    assert reward["hybrid"] == reward["eval"] == f"reward: {{type: hybrid, {common}}}\n"
    assert reward["hybrid_expected"] == (
        f"reward: {{type: hybrid, {common}, safety_signal: expected}}\n")


@pytest.mark.parametrize("option, says", [
    (["--arms", "guard"], "give one or more of guard_only, hybrid, helpfulness_only, hybrid_expected"),
    (["--arms", "hybrid,hybrid"], "each once"),
    (["--steps", "0"], "a number of steps of at least 1"),
])
def test_the_run_options_refuse_what_cannot_run(option, says, capsys):
    from experiments.saferl.cpu import run
    with pytest.raises(SystemExit):
        run.parse_args(["out", *option])
    assert says in capsys.readouterr().err
