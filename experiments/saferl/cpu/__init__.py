"""The SafeRL experiment on two CPU cores (run.py; `bash ../run_cpu.sh OUTDIR`).

bank.py the hand-labelled responses, judges.py the stand-in judges trained on them (with
tiny_qwen3.py, a trainable Qwen3 forward, and toolchain.py, the C++ renderer and tokenizer),
policy.py the style policy and GRPO.
"""
