"""The SafeRL experiment on two CPU cores (run.py; `bash ../run_cpu.sh OUTDIR`).

bank.py the hand-labelled responses, judges.py the stand-in judges trained on them (with
tiny_qwen3.py, a trainable Qwen3 forward, and toolchain.py, the C++ renderer and tokenizer),
policy.py the tiny Qwen3 text policy fitted to the bank (with policy_tokenizer.py, its small
tokenizer), grpo.py its training with TRL's GRPOTrainer on safrl's rewards.
"""
