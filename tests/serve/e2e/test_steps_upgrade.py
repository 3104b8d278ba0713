"""A run directory written by a safrl from before the conversation statistics (issue 26): its
steps.csv has fewer columns, so the server sets it aside instead of appending rows of other
columns under its header, and its steps.jsonl rows (no conversation sums) still merge."""
import json
import subprocess

from conftest import SAFRL, Client, Server

CATEGORIES = ["Violent", "Non-violent Illegal Acts", "Sexual Content or Sexual Acts", "PII",
              "Suicide & Self-Harm", "Unethical Acts", "Politically Sensitive Topics",
              "Copyright Violation", "Jailbreak"]
OLD_HEADER = ",".join(["step", "count", "safety_rate", "refusal_rate", "controversial_rate",
                       "unparseable_rate", *[f"unsafe_rate_{c}" for c in CATEGORIES],
                       "helpfulness_mean", "helpfulness_std", "helpfulness_min",
                       "helpfulness_max", "reward_mean", "reward_std", "reward_min",
                       "reward_max", "tokens", "seconds", "samples_per_s"])
# One safe sample of step 0 with reward 0.5, as a row of the older format (its sums only).
OLD_ROW = {"step": 0, "count": 1, "tokens": 5, "seconds": 1.0, "started_at": 1.0e9,
           "ended_at": 1.0e9 + 1,
           "sums": {"safe": 1, "refusal": 0, "controversial": 0, "unparseable": 0,
                    "unsafe_by_category": {c: 0 for c in CATEGORIES},
                    "helpfulness": {"n": 1, "mean": 0.5, "m2": 0.0, "min": 0.5, "max": 0.5},
                    "reward": {"n": 1, "mean": 0.5, "m2": 0.0, "min": 0.5, "max": 0.5}}}
OLD_CSV = (OLD_HEADER + "\n0,1,1.0,0.0,0.0,0.0" + ",0.0" * 9 +
           ",0.5,0.0,0.5,0.5,0.5,0.0,0.5,0.5,5,1.0,1.0\n")


def test_an_older_run_dir_keeps_its_csv_aside_and_its_rows_merge(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "steps.csv").write_text(OLD_CSV)
    (run_dir / "steps.jsonl").write_text(json.dumps(OLD_ROW) + "\n")
    server = Server(tmp_path)
    try:
        client = Client(server.endpoint)
        reply = client.call({"type": "score", "samples": [
            {"id": k, "prompt": f"question {k}", "response": f"answer {k}", "step": 0}
            for k in range(2)]})
        client.call({"type": "stats", "flush": True})
        client.close()
    finally:
        server.stop()
    log = open(server.log.name).read()
    assert f"{run_dir / 'steps.csv'} has the columns of an older safrl; it is kept as " \
           f"{run_dir / 'steps.csv.old'}" in log
    assert (run_dir / "steps.csv.old").read_text() == OLD_CSV
    csv = (run_dir / "steps.csv").read_text().splitlines()
    assert csv[0].startswith(OLD_HEADER + ",prompts_judged,") and len(csv) == 2
    assert csv[1].startswith("0,2,") and len(csv[1].split(",")) == len(csv[0].split(","))

    done = subprocess.run([SAFRL, "merge-steps", str(run_dir)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    (merged,) = [json.loads(line) for line in done.stdout.splitlines()]
    results = reply["results"]
    assert merged["count"] == 3
    assert merged["safety_rate"] == (1 + sum(r["safe"] for r in results)) / 3
    # The older row adds no judged prompt, turn or tool result; the new ones none either here.
    assert merged["prompts_judged"] == 0 and merged["over_refusal_rate"] is None
    assert merged["sums"]["by_prompt"]["safe"] == {"count": 0, "refusal": 0, "unsafe": 0}
    assert merged["turns_judged"] == 0 and merged["unsafe_turn_rate"] is None

    # A second start finds today's header and leaves the file alone.
    again = Server(tmp_path)
    again.stop()
    assert not (run_dir / "steps.csv.old.1").exists()
    assert (run_dir / "steps.csv").read_text().splitlines() == csv
