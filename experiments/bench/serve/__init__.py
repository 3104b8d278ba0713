"""Scoring through `safrl serve` and in process: load_test.py, run_scoring_benchmarks.sh."""
