"""Tiny random Hugging Face checkpoints written by transformers itself, and transformers' outputs
on them: the oracle data of the tests and the embedded default models.

    checkpoints       the test checkpoints with their reference outputs (tests/model)
    guard_golden      transformers' greedy generate() on the embedded guard (tests/scoring)
    embedded_models   the embedded default guard and reward model (scripts/setup.sh)
    live_server       real `safrl serve` processes on loopback (tests/serve/e2e, tests/trainers)
    vllm_server       real vLLM servers from .venv-vllm on loopback (tests/vllm)

Each runs as `python -m safrl.testing.NAME ...` (usage at the top of each module) and imports
torch, transformers, safetensors or tokenizers (.venv has them). Like torch.testing, this package
is not imported by `import safrl`: the trainer plugin needs only pyzmq and msgpack.
"""
