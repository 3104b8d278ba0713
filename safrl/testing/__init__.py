"""Tiny Hugging Face checkpoints, random ones written by transformers itself (with transformers'
outputs on them: the oracle data of the tests) and stand-ins trained on a few labelled texts (the
embedded default models).

    checkpoints       the test checkpoints with their reference outputs (tests/model)
    stream_guard_model  Qwen3ForGuardModel (Qwen3Guard-Stream) as a transformers model, the
                      reference of the engine's Stream heads (tiny_stream_guard builds one)
    guard_golden      transformers' greedy generate() on the embedded guard (tests/scoring)
    embedded_models   the embedded guard and reward model with random weights (scripts/setup.sh)
    demo_models       the embedded demo pair that configs/default.yaml names, trained on the
                      hand-labelled demo_bank (scripts/setup.sh)
    stand_in          trains tiny stand-in judges on labelled examples (the demo pair, the
                      SafeRL experiment's judges), with tiny_qwen3 (a trainable Qwen3 forward) and
                      toolchain (safrl's own render and tokenize commands)
    live_server       real `safrl serve` processes on loopback (tests/serve/e2e, tests/trainers)
    vllm_server       real vLLM servers from .venv-vllm on loopback (tests/vllm)

Each runs as `python -m safrl.testing.NAME ...` (usage at the top of each module) and imports
torch, transformers, safetensors or tokenizers (.venv has them). Like torch.testing, this package
is not imported by `import safrl`: the trainer plugin needs only pyzmq and msgpack.
"""
