"""What the tests of the `safrl` program share: the binary, and configs and inputs for the
embedded models (random weights, the real tokenizer) that its CTest entry points at."""
import json
import os

SAFRL = os.environ["SAFRL_BIN"]
EMBEDDED = os.environ["SAFRL_EMBEDDED"]


def write_config(tmp_path, extra="", name="config.yaml"):
    config = tmp_path / name
    config.write_text(
        f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
        f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
        f"reward: {{type: hybrid}}\n{extra}")
    return config


def make_input(tmp_path, n=24, name="in.jsonl"):
    path = tmp_path / name
    with open(path, "w") as f:
        for i in range(n):
            sample = {"id": f"s{i}", "step": i // 8, "prompt": f"question {i} " + "word " * (i % 7)}
            if i % 3 == 0:
                sample["response"] = f"<think>\nthinking {i}\n</think>\n\nanswer {i}"
            else:
                sample["response"] = f"answer {i} " + "more " * (i % 5)
            f.write(json.dumps(sample) + "\n")
    return path


def has_gpu():
    import torch  # only where asked: it takes seconds to import
    return torch.cuda.is_available()
