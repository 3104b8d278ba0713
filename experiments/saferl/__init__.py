"""Reproducing the SafeRL table of the Qwen3Guard technical report (section 3.5, Table 10).

eval/     Safety Rate and Refusal Rate of a policy's generations, judged through safrl, beside the
          paper's figures.
recipes/  verl configs and launch scripts for the three arms at full scale (GPUs needed).
cpu/      the same experiment shrunk to run on two CPU cores end to end through `safrl serve`,
          with tiny stand-in judges trained here on a hand-labelled response bank.
"""
