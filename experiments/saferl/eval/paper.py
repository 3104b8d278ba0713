"""Table 10 of the Qwen3Guard technical report (arXiv 2510.14276, section 3.5): SafeRL on
Qwen3-4B, as copied into /work/shared/docs/qwen3guard.md section 3. Percentages."""

MODES = ("non_think", "think")
MODE_NAMES = {"non_think": "Non-Think", "think": "Think"}
ARMS = ("baseline", "guard_only", "hybrid")
ARM_NAMES = {"baseline": "Qwen3-4B", "guard_only": "+ SafeRL (Guard-only)",
             "hybrid": "+ SafeRL (Hybrid)", "helpfulness_only": "+ RL (helpfulness only)",
             "hybrid_expected": "+ SafeRL (Hybrid, expected safety)"}

# Column keys and the paper's headers.
COLUMNS = {
    "safety_qwen3_235b": "Safety (Qwen3-235B)",
    "safety_wildguard": "Safety (WildGuard)",
    "refusal_wildguard": "Refusal (WildGuard)",
    "arenahard_v2": "ArenaHard-v2",
    "aime25": "AIME25",
    "lcb_v6": "LCB-v6",
    "gpqa": "GPQA",
}

_ROWS = {
    ("non_think", "baseline"): (47.5, 64.7, 12.9, 9.5, 19.1, 26.4, 41.7),
    ("non_think", "guard_only"): (99.7, 100.0, 96.6, 8.5, 19.5, 25.8, 42.0),
    ("non_think", "hybrid"): (86.5, 98.1, 5.3, 10.7, 18.2, 27.7, 40.8),
    ("think", "baseline"): (43.8, 59.0, 6.5, 13.7, 65.6, 48.4, 55.9),
    ("think", "guard_only"): (99.7, 100.0, 95.2, 11.7, 66.3, 46.7, 53.1),
    ("think", "hybrid"): (83.4, 97.4, 6.2, 16.6, 63.5, 47.5, 51.2),
}

TABLE10 = {key: dict(zip(COLUMNS, values)) for key, values in _ROWS.items()}


def figure(mode: str, arm: str, column: str):
    """The paper's figure, or None where the paper has no such row (any arm beyond its three)."""
    return TABLE10.get((mode, arm), {}).get(column)
