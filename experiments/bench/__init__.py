"""The benchmarks (README.md), importable where a test runs part of one."""
