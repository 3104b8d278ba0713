"""The SafeRL experiment on two CPU cores (run.py; `bash ../run_cpu.sh OUTDIR`).

bank.py the hand-labelled responses, judges.py the stand-in judges trained on them (with
safrl.testing.stand_in, which the embedded demo models of the default config share),
policy.py the tiny Qwen3 text policy fitted to the bank (with policy_tokenizer.py, its small
tokenizer), grpo.py its training with TRL's GRPOTrainer on safrl's rewards.
"""
