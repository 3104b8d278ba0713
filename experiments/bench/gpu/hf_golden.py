"""Golden outputs from Hugging Face transformers and tokenizers, for the exactness claims of
issues 2 and 3. Runs wherever both are installed: .venv here, the GPU machine's own python3 there
(experiments/bench/gpu/run.sh).

    .venv/bin/python experiments/bench/gpu/hf_golden.py CHECKPOINTS_DIR TOKENIZER_DIR OUT_DIR

CHECKPOINTS_DIR is what `python -m safrl.testing.checkpoints` writes (the test checkpoints, each
with the outputs of the transformers it was made with in reference.json, so a difference here means
another transformers version or machine computes otherwise). For each checkpoint transformers loads
it as a user would (Auto classes, float32) and computes the same outputs: logits at the last token
(causal LM) or the score read at the last non-pad token (sequence classification).
Qwen2ForRewardModel is remote code (WorldPM's repository), not in transformers, so it is skipped;
so is Qwen3ForGuardModel (Qwen3Guard-Stream, remote code too), whose every-position logits
tests/engine/stream_logits_test.cpp compares with safrl.testing.stream_guard_model.
Tokenizer: `tokenizers` encodes every entry of tests/data/tokenizer/corpus.json and each is
compared with reference_ids.json, which scripts/reference/tokenize_reference.py made with
`tokenizers` too, so a difference means another tokenizers version or tokenizer.json. Writes
OUT_DIR/hf_golden.json (the outputs, to become test data) and prints a summary. Not run on the GPU
machine yet.
"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def checkpoint_outputs(directory):
    config = json.load(open(os.path.join(directory, "config.json")))
    arch = config["architectures"][0]
    if arch == "Qwen2ForRewardModel":
        return None, "skipped: remote code, not in transformers"
    if arch == "Qwen3ForGuardModel":
        return None, "skipped: Qwen3Guard-Stream is remote code (test_stream_logits checks it)"
    cls = (transformers.AutoModelForCausalLM if arch.endswith("ForCausalLM")
           else transformers.AutoModelForSequenceClassification)
    model = cls.from_pretrained(directory, dtype=torch.float32).eval()
    reference = json.load(open(os.path.join(directory, "reference.json")))
    outputs, worst = [], 0.0
    for ids, expected in zip(reference["inputs"], reference["outputs"]):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits
        got = logits[0, -1] if arch.endswith("ForCausalLM") else logits[0]
        outputs.append(got.tolist())
        expected = torch.tensor(expected)
        worst = max(worst, ((got - expected).abs().max() / expected.abs().max().clamp(min=1e-12)).item())
    return outputs, worst


def main():
    checkpoints, tokenizer_dir, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    result = {"transformers": transformers.__version__, "torch": torch.__version__,
              "checkpoints": {}, "tokenizer": {}}
    for name in sorted(os.listdir(checkpoints)):
        directory = os.path.join(checkpoints, name)
        if not os.path.exists(os.path.join(directory, "reference.json")):
            continue
        outputs, worst = checkpoint_outputs(directory)
        result["checkpoints"][name] = {"outputs": outputs, "max_relative_difference": worst}
        print(f"{name}: max relative difference to reference.json {worst}")

    tokenizer = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
    corpus = json.load(open(os.path.join(SOURCE, "tests/data/tokenizer/corpus.json")))["entries"]
    expected = {e["name"]: e["ids"] for e in json.load(
        open(os.path.join(SOURCE, "tests/data/tokenizer/reference_ids.json")))["entries"]}
    differ = []
    for entry in corpus:
        ids = tokenizer.encode(entry["text"], add_special_tokens=False).ids
        result["tokenizer"][entry["name"]] = ids
        if ids != expected.get(entry["name"]):
            differ.append(entry["name"])
    result["tokenizer_summary"] = {"entries": len(corpus), "differ_from_reference_ids": differ}
    print(f"tokenizer: {len(corpus)} entries, {len(differ)} differ from reference_ids.json: {differ}")
    with open(os.path.join(out_dir, "hf_golden.json"), "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
