"""`safrl score --rescore` end to end on the demo models (configs/default.yaml's, trained on
safrl/testing/demo_bank.py, which write every verdict of configs/example-rollouts.jsonl): the
rewards and step rows of a rescore under new reward settings equal a fresh `safrl score` under
them, no model is loaded (the model files may be broken by then), and each setting that needs a
model output the file lacks is refused with the line and the setting."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from embedded import EMBEDDED, SAFRL

ROOT = Path(__file__).resolve().parents[2]
ROLLOUTS = ROOT / "configs" / "example-rollouts.jsonl"
# Timing, which a rescore does not spend on any step.
TIMING = {"seconds", "samples_per_s"}


def write_config(path, models, reward, guard_extra=""):
    path.write_text(f"guard: {{model: {models}/demo-guard, max_new_tokens: 128{guard_extra}}}\n"
                    f"helpfulness: {{model: {models}/demo-reward, chat_format: qwen3}}\n"
                    f"reward: {{{reward}}}\n")
    return path


def safrl_score(*args, check=True):
    proc = subprocess.run([SAFRL, "score", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def read_lines(path):
    return [json.loads(line) for line in open(path)]


def assert_close(a, b, where="line"):
    """Equal JSON, numbers to 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b))}"
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-9), where
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The example rollouts scored with a copy of the demo models, whose files are then broken:
    whatever rescores afterwards loaded no model."""
    tmp = tmp_path_factory.mktemp("rescore")
    models = tmp / "models"
    for name in ("demo-guard", "demo-reward"):
        shutil.copytree(Path(EMBEDDED) / name, models / name)
    old = write_config(tmp / "old.yaml", models, "type: hybrid, judge_prompt: true")
    out = tmp / "scored.jsonl"
    safrl_score("--config", old, "--input", ROLLOUTS, "--output", out)
    fresh = {}
    for name, reward in NEW.items():  # what a fresh run under each new config writes
        config = write_config(tmp / f"{name}.yaml", models, reward)
        fresh[name] = (config, tmp / f"fresh-{name}.jsonl", tmp / f"fresh-{name}.json")
        safrl_score("--config", config, "--input", ROLLOUTS, "--output", fresh[name][1],
                    "--stats-out", fresh[name][2])
    for name in ("demo-guard", "demo-reward"):
        (models / name / "model.safetensors").write_bytes(b"not a safetensors file")
    broken = safrl_score("--config", old, "--input", ROLLOUTS, "--output", tmp / "again.jsonl",
                         check=False)
    assert broken.returncode == 2 and "model.safetensors" in broken.stderr, broken.stderr
    return tmp, models, old, out, fresh


# The new reward settings: other caps, a loose Controversial policy, refusals of harmful prompts
# rewarded (the prompt verdicts are in the file: the old config judged the prompts).
NEW = {
    "caps": "type: hybrid, judge_prompt: true, unsafe_cap: -7, refusal_cap: -1.5, "
            "controversial: loose, refusal_penalty: prompt_aware, justified_refusal_reward: 0.25",
    "guard_only": "type: guard_only, judge_prompt: true, controversial: loose",
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_a_rescore_gives_the_rewards_and_step_rows_of_a_fresh_run(scored, name):
    tmp, _, _, out, fresh = scored
    config, fresh_out, fresh_stats = fresh[name]
    rescored, stats = tmp / f"rescored-{name}.jsonl", tmp / f"rescored-{name}.json"
    proc = safrl_score("--rescore", out, "--config", config, "--output", rescored,
                       "--stats-out", stats)
    assert "no model loaded" in proc.stderr
    got, want, before = read_lines(rescored), read_lines(fresh_out), read_lines(out)
    assert [x["id"] for x in got] == [x["id"] for x in want]
    for x, y in zip(got, want):
        assert_close(x, y, x["id"])
    # The settings moved some rewards: lock-4 is Controversial (loose: safe, helpful H).
    changed = [x["id"] for x, y in zip(got, before) if x["reward"] != y["reward"]]
    assert "lock-4" in changed
    rows, want_rows = json.load(open(stats)), json.load(open(fresh_stats))
    assert len(rows) == len(want_rows) == 2
    for row, want_row in zip(rows, want_rows):
        assert row["seconds"] == 0 and row["samples_per_s"] is None
        assert_close({k: v for k, v in row.items() if k not in TIMING},
                     {k: v for k, v in want_row.items() if k not in TIMING}, f"step {row['step']}")


def caps_reward(line):
    """docs/reward.md's hybrid reward of a line's verdicts under NEW["caps"]: caps -7 and -1.5,
    Controversial loose (only Unsafe counts as unsafe), prompt_aware with a justified refusal
    worth 0.25 (a harmful prompt: Unsafe, or naming Jailbreak), truncated thinking penalised."""
    h = line["helpfulness"]
    unsafe = [v for v in (line["answer"], line["thinking"]) if v and v["safety"] == "Unsafe"]
    if line["truncated_thinking"] or unsafe:
        return min(-7.0, h)
    if line["answer"]["refusal"]:
        prompt = line["prompt_verdict"]
        harmful = prompt["safety"] == "Unsafe" or "Jailbreak" in prompt["categories"]
        return 0.25 if harmful else min(-1.5, h)
    return h


def test_the_new_caps_are_applied_as_docs_reward_md_says(scored):
    _, _, _, out, fresh = scored
    proc = safrl_score("--rescore", out, "--config", fresh["caps"][0])
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(lines) == 10
    for line in lines:
        assert line["reward"] == caps_reward(line), line["id"]
    by_id = {x["id"]: x for x in lines}
    old = {x["id"]: x for x in read_lines(out)}
    # lock-4: Controversial, strict: unsafe, min(-10, H); loose: helpful, H.
    assert old["lock-4"]["case"] == "unsafe" and by_id["lock-4"]["case"] == "helpful"
    assert by_id["lock-4"]["reward"] == old["lock-4"]["helpfulness"]


def refused(out, config, *extra):
    proc = safrl_score("--rescore", out, "--config", config, *extra, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # every line is rescored before any is written
    return proc.stderr


def test_settings_that_need_outputs_the_file_lacks_are_refused(scored):
    tmp, models, _, out, _ = scored
    message = refused(out, write_config(tmp / "r1.yaml", models, "judge_prompt: false"))
    assert f"{out} line 1 cannot be rescored" in message
    assert "judging the prompt (reward.judge_prompt" in message
    assert "was on when the line was scored, now off" in message
    message = refused(out, write_config(tmp / "r2.yaml", models,
                                        "judge_prompt: true, judge: all_turns"))
    assert "reward.judge was last when the line was scored, now all_turns" in message
    message = refused(out, write_config(tmp / "r3.yaml", models,
                                        "judge_prompt: true, judge_tool_results: true"))
    assert "reward.judge_tool_results was off" in message
    message = refused(out, write_config(tmp / "r4.yaml", models, "judge_prompt: true",
                                        guard_extra=", decoding: free"))
    assert "other models or model settings" in message and "r4.yaml" in message


def test_judge_thinking_turned_off_drops_the_thinking_verdicts_and_on_is_refused(scored):
    tmp, models, _, out, _ = scored
    off = write_config(tmp / "off.yaml", models, "judge_prompt: true, judge_thinking: false")
    lines = {x["id"]: x for x in map(json.loads, safrl_score("--rescore", out, "--config", off)
                                     .stdout.splitlines())}
    # weapon: a Safe refusal whose trace is Unsafe; without the trace, min(refusal_cap -5, H).
    assert lines["weapon"]["thinking"] is None and lines["weapon"]["case"] == "refusal"
    assert lines["weapon"]["reward"] == min(-5.0, lines["weapon"]["helpfulness"])
    rescored = tmp / "no-thinking.jsonl"
    safrl_score("--rescore", out, "--config", off, "--output", rescored)
    message = refused(rescored, write_config(tmp / "on.yaml", models, "judge_prompt: true"))
    assert "reward.judge_thinking was off when the line was scored, now on" in message


def test_lines_without_the_models_hash_and_torn_files_are_refused(scored):
    tmp, _, old, out, _ = scored
    lines = read_lines(out)
    older = tmp / "older.jsonl"
    older.write_text("".join(json.dumps({k: v for k, v in x.items() if k != "models"}) + "\n"
                             for x in lines))
    message = refused(older, old)
    assert f"{older} line 1 cannot be rescored" in message and "before the field existed" in message
    torn = tmp / "torn.jsonl"
    torn.write_text(out.read_text()[:-20])
    assert "torn line" in refused(torn, old)


def test_an_existing_output_needs_overwrite_and_the_input_is_never_the_output(scored):
    tmp, _, old, out, _ = scored
    target = tmp / "target.jsonl"
    target.write_text("keep\n")
    assert "add --overwrite" in refused(out, old, "--output", target)
    assert target.read_text() == "keep\n"
    safrl_score("--rescore", out, "--config", old, "--output", target, "--overwrite")
    # The same settings give the same lines back.
    assert read_lines(target) == read_lines(out)
    # Recorded as a fresh run of the same input under that config would be.
    assert json.load(open(str(target) + ".meta.json"))["input"]["path"] == str(ROLLOUTS)
    assert "is the file being rescored" in refused(out, old, "--output", out, "--overwrite")
