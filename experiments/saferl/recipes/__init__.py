"""The full-scale recipes (verl on GPUs, see ../README.md): launch scripts (prepare.sh, train.sh,
evaluate.sh) and the Python steps they run as programs (prepare_data.py, generate.py,
wildguard_judge.py), importable as modules for the tests."""
