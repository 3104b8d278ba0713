"""Every code block of the pages users copy from (README.md, docs/plugin.md, docs/scaling.md,
docs/trainers/*.md) is run here as written, or checked against what it names where it needs
GPUs, another machine or a whole training job.

Python blocks run in a fresh interpreter (TRL's and verl's in this process, which has them
loaded already), in a scratch folder that holds the repository's configs/ and build/ (as its root
does: the blocks' paths are relative to it), with $SAFRL_ENDPOINT at a live server; their results
are compared with what a client gets for the same samples from a server with the same config.
The only edit is the one a block asks the reader to make (TRL's MODEL). Shell blocks are checked for their flags: OpenRLHF's against the argument
parser of the version the block names, verl's keys against verl's composed configuration,
`safrl serve`'s against its --help, vLLM's against its engine and server arguments.

CLAIMS names each block (its page and a text found in it and in no other block of the page) and
how it is covered; a block that none claims, or a claim whose block is gone, fails."""
import ast
import importlib.metadata
import inspect
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import safrl
import safrl.verl
from conftest import assert_rows_match_trl_logs, step_rows
from safrl import _protocol
from verl_support import verl_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/plugin.md", "docs/scaling.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "trainers").glob("*.md"))]
CONFIG = "configs/default.yaml"

CLAIMS = {
    ("README.md", "scripts/run-default.sh"): "the main job: tests/cli/test_run_default.py",
    ("README.md", "scripts/test.sh"): "the test command: CI runs it (.ci/run)",
    ("README.md", "Qwen3Guard-Gen-4B + Skywork"): "test_the_readme_config_is_configs_one_gpu",
    ("docs/plugin.md", "pip install"): "installs the package: tests/safrl/test_dependencies.py",
    ("docs/plugin.md", "safrl.Client() as client"): "test_plugin_quick_start",
    ("docs/plugin.md", "safrl.AsyncClient(...)"): "test_plugin_client_signature",
    ("docs/plugin.md", "attempt 1 of 6 failed"): "test_plugin_log_line",
    ("docs/plugin.md", "├── BadRequest"): "test_plugin_error_tree",
    ("docs/plugin.md", "results = safrl.score("): "test_plugin_score",
    ("docs/plugin.md", "policy_turns_from"): "test_plugin_conversations",
    ("docs/plugin.md", "safrl.LocalServer("): "test_plugin_local_server",
    ("docs/plugin.md", "safrl.configure("): "test_plugin_configure",
    ("docs/plugin.md", "pytest -q tests/safrl"): "this suite's own command (CTest python_plugin)",
    ("docs/scaling.md", "configs/one-gpu.yaml --run-dir"): "test_scaling_commands",
    ("docs/scaling.md", "safrl.ray.start("): "test_scaling_ray",
    ("docs/scaling.md", "vllm serve"): "test_scaling_commands",
    ("docs/trainers/openrlhf.md", "OpenRLHF 0.11"): "test_openrlhf_flags",
    ("docs/trainers/openrlhf.md", "OpenRLHF 0.9"): "test_openrlhf_flags",
    ("docs/trainers/openrlhf.md", "http_allowed_clients"):
        "another cluster's addresses: server.http_* are tested in tests/serve/e2e/test_http.py",
    ("docs/trainers/openrlhf.md", "class SafetyAgent"):
        "the agent of tests/trainers/test_openrlhf.py "
        "(test_multi_turn_agent_rollouts_get_the_reward_of_their_conversation)",
    ("docs/trainers/openrlhf.md", '"policy_turns_from": 2'): "test_openrlhf_agent_sample",
    ("docs/trainers/openrlhf.md", '"rewards": [-10.0, 1.5]'):
        "an example reply: tests/serve/e2e/test_http.py checks the real ones",
    ("docs/trainers/trl.md", "GRPOTrainer("): "test_trl_script",
    ("docs/trainers/verl.md", "def make_map_fn"): "test_verl_map_fn",
    ("docs/trainers/verl.md", "compute_score_async"): "test_verl_overrides",
    ("docs/trainers/verl.md", "compute_score_batch"): "test_verl_overrides",
    ("docs/trainers/verl.md", "ray_kwargs"): "test_verl_overrides",
    ("docs/trainers/verl.md", "</tool_response>\nassistant"): "test_verl_agent_rollout",
    ("docs/trainers/verl.md", '"policy_turns_from": 2'): "test_verl_agent_rollout",
}


def blocks_of(page):
    """The fenced code blocks of a page, as (language, text)."""
    text = (ROOT / page).read_text()
    return re.findall(r"^```([\w-]*)\n(.*?)^```[ \t]*$", text, re.M | re.S)


def block(page, marker):
    """The text of the one block of page that holds marker (a claimed one)."""
    assert (page, marker) in CLAIMS
    found = [text for _, text in blocks_of(page) if marker in text]
    assert len(found) == 1, f"{len(found)} blocks of {page} hold {marker!r}"
    return found[0]


def test_every_block_is_claimed_once():
    unclaimed, ambiguous = [], []
    for page in PAGES:
        for language, text in blocks_of(page):
            markers = [m for p, m in CLAIMS if p == page and m in text]
            if not markers:
                unclaimed.append(f"{page}: ```{language} {text.splitlines()[0]!r}")
            elif len(markers) > 1:
                ambiguous.append(f"{page}: {markers}")
    stale = [claim for claim in CLAIMS
             if claim[0] not in PAGES or not any(claim[1] in t for _, t in blocks_of(claim[0]))]
    assert not unclaimed, "blocks no test covers (add them to CLAIMS, with a test):\n" + \
        "\n".join(unclaimed)
    assert not ambiguous and not stale, (ambiguous, stale)


# -- running Python blocks ---------------------------------------------------------------------

@pytest.fixture
def scratch(tmp_path):
    """A folder with the repository's configs/ and build/, where a block's relative paths (the
    config, its run directories) resolve as from the repository's root."""
    for name in ("configs", "build"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def run_block(code, cwd, results, **env):
    """Runs code in a fresh interpreter in cwd with env added; returns the JSON value of each of
    results (name: a Python expression evaluated after the code)."""
    out = cwd / "results.json"
    dump = ", ".join(f"{name!r}: {expression}" for name, expression in results.items())
    script = f"{code}\nimport json as _json\n_json.dump({{{dump}}}, open({str(out)!r}, 'w'))\n"
    run = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1", **env), timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(out.read_text())


def assert_same_results(got, expected):
    """Equal results, floats within 1e-5: two servers with different histories can round the
    last bits differently (the guard's template prefix is computed once per process). A sample's
    `tokens` (what computing it cost) is left out: the reference asks the server the block asked,
    whose judgement cache answers the repeat without computing (tokens 0)."""
    if isinstance(expected, float):
        assert got == pytest.approx(expected, abs=1e-5)
    elif isinstance(expected, dict):
        assert sorted(got) == sorted(expected)
        for key in expected:
            if key != "tokens":
                assert_same_results(got[key], expected[key])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert_same_results(a, b)
    else:
        assert got == expected


def call_arguments(code, method):
    """The arguments of the call of .method(...) in code, evaluated: what the block sends."""
    def value(node):
        return eval(compile(ast.Expression(node), "<block>", "eval"), {})  # the block's literals

    calls = [node for node in ast.walk(ast.parse(code))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == method]
    assert len(calls) == 1, f"{len(calls)} calls of {method} in the block"
    return [value(a) for a in calls[0].args], {k.arg: value(k.value) for k in calls[0].keywords}


@pytest.fixture(scope="module")
def default_server():
    """A server on configs/default.yaml: the reference for the blocks that use that config."""
    with safrl.LocalServer(str(ROOT / CONFIG)) as server, server.client() as client:
        yield server, client


def test_plugin_quick_start(scratch, default_server):
    server, reference = default_server
    code = block("docs/plugin.md", "safrl.Client() as client")
    got = run_block(code, scratch, {"results": "results", "rewards": "rewards", "groups": "groups"},
                    SAFRL_ENDPOINT=server.endpoint)
    args, kwargs = call_arguments(code, "score")
    expected = reference.score(*args, **kwargs)
    assert len(expected) == 2
    assert_same_results(got["results"], expected)
    assert_same_results(got["rewards"], [r["reward"] for r in expected])
    args, kwargs = call_arguments(code, "score_groups")
    assert_same_results(got["groups"], reference.score_groups(*args, **kwargs))


def test_plugin_conversations(scratch, default_server):
    """The block's dict arguments are sent as the JSON text Qwen3's template writes: its results
    are the server's for the conversation written out by hand."""
    server, reference = default_server
    code = block("docs/plugin.md", "policy_turns_from")
    got = run_block(code, scratch, {"agent": "agent", "groups": "groups"},
                    SAFRL_ENDPOINT=server.endpoint)
    sent = [{"role": "system", "content": "You are a travel agent."},
            {"role": "user", "content": "Book me a flight to Paris."},
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                "name": "search_flights", "arguments": '{"to": "PAR"}'}}]},
            {"role": "tool", "content": "AF123 at 9:00"}]
    assert_same_results(got["agent"], reference.score([{
        "messages": sent, "policy_turns_from": 2,
        "response": "AF123 leaves at 9:00. Shall I book it?"}], judge="all_turns"))
    assert len(got["agent"][0]["turns"]) == 2  # the policy's tool call and its answer
    assert_same_results(got["groups"], reference.score_groups(
        [sent], [["Booked AF123.", "I can't book flights."]], step=3))


def test_plugin_score(scratch, default_server):
    code = block("docs/plugin.md", "results = safrl.score(")
    got = run_block(code, scratch, {"samples": "samples", "results": "results"})
    assert_same_results(got["results"], default_server[1].score(got["samples"]))
    assert [r["id"] for r in got["results"]] == [0, 1]


def test_plugin_local_server(scratch, default_server):
    code = block("docs/plugin.md", "safrl.LocalServer(")
    got = run_block(code, scratch, {"results": "results"})
    # The block's last request.
    assert_same_results(got["results"], default_server[1].score(
        [{"prompt": "Say hi", "response": "Hi #2"}], step=2))


def test_plugin_configure(scratch):
    code = block("docs/plugin.md", "safrl.configure(")
    client = "safrl._default.client()"
    got = run_block(code, scratch, {"endpoints": f"{client}.endpoints",
                                    "limits": f"[{client}.settings.timeout, {client}.settings.retries]"})
    assert got == {"endpoints": ["tcp://gpu1:5555", "tcp://gpu2:5555"], "limits": [120.0, 8]}


def test_plugin_client_signature():
    code = block("docs/plugin.md", "safrl.AsyncClient(...)")
    documented = " ".join(code.split("safrl.AsyncClient(")[0].split())

    def plain(cls):
        """The signature as it is called: no annotations."""
        signature = inspect.signature(cls)
        return signature.replace(parameters=[p.replace(annotation=inspect.Parameter.empty)
                                             for p in signature.parameters.values()],
                                 return_annotation=inspect.Signature.empty)

    assert documented == f"safrl.Client{plain(safrl.Client)}"
    assert plain(safrl.AsyncClient) == plain(safrl.Client)


def test_plugin_log_line(caplog):
    """The example is what a default client logs for its first attempt with no server."""
    documented = block("docs/plugin.md", "attempt 1 of 6 failed").strip()
    settings = _protocol.Settings()
    retry = _protocol.RetryState(settings, "5f0c...")
    error = _protocol.timeout_error("5f0c...", ["tcp://127.0.0.1:5555"], settings.connect_timeout,
                                    sent=False)
    with caplog.at_level(logging.WARNING, logger="safrl"):
        retry.failed(error)

    def timeless(line):
        return re.sub(r"\b(after|in) [\d.]+ s", r"\1 T s", line)

    assert timeless(caplog.records[0].getMessage()) == timeless(documented)


def test_plugin_error_tree():
    tree = block("docs/plugin.md", "├── BadRequest")
    names = re.findall(r"── (\w+)", tree)
    assert tree.startswith("safrl.SafrlError ")
    assert names == [cls.__name__ for cls in safrl.SafrlError.__subclasses__()]
    assert all(getattr(safrl, name) in safrl.SafrlError.__subclasses__() for name in names)


def test_scaling_ray(scratch, default_server):
    code = block("docs/scaling.md", "safrl.ray.start(")
    # RAY_ADDRESS=local: a Ray of its own, never a cluster another process left on this machine.
    # RAY_worker_niceness=0: the replica's server would run at Ray's worker niceness 15, starved
    # on a busy machine (105 s for this test instead of 47 s beside builds; test_ray.py).
    got = run_block(code, scratch, {"rewards": "rewards", "rows": "rows"}, RAY_ADDRESS="local",
                    RAY_worker_niceness="0")
    # The reward function sends the completions of one prompt as a GRPO group.
    sent = call_arguments(code, "reward_func")[1]
    assert len(set(sent["prompts"])) == 1
    [group] = default_server[1].score_groups(sent["prompts"][:1], [sent["completions"]])
    assert_same_results(got["rewards"], [r["reward"] for r in group])
    [row] = got["rows"]
    assert row["step"] is None and row["count"] == 2
    assert row["reward_mean"] == pytest.approx(sum(got["rewards"]) / 2, abs=1e-9)


def test_trl_script(scratch, server, tiny_policy, monkeypatch):
    """Run in this process, which has TRL loaded already (test_trl.py), to save its import."""
    code = block("docs/trainers/trl.md", "GRPOTrainer(")
    code, edits = re.subn(r'^MODEL = ".*"', f"MODEL = {str(tiny_policy)!r}", code, flags=re.M)
    assert edits == 1, "the TRL block sets MODEL, the one line a reader edits"
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("SAFRL_ENDPOINT", server.endpoint)
    safrl.configure()  # the adapters' clients are made anew, from $SAFRL_ENDPOINT
    namespace = {}
    try:
        exec(compile(code, "docs/trainers/trl.md", "exec"), namespace)
    finally:
        safrl.configure()  # no client of this server is left to the tests after this one
    assert server.stop() == 0  # SIGTERM writes the open steps
    logs = [entry for entry in namespace["trainer"].state.log_history if "reward" in entry]
    # 4 prompts x 4 completions, 8 completions a step.
    assert_rows_match_trl_logs(step_rows(server), logs, steps=2, per_step=8)


def test_verl_map_fn(default_server):
    """The preprocessing function, applied as its comment says, gives rows whose fields score
    through safrl.verl as the server scores the prompt and response (run in this process)."""
    from datasets import Dataset
    server, reference = default_server
    namespace = {}
    exec(compile(block("docs/trainers/verl.md", "def make_map_fn"), "docs/trainers/verl.md",
                 "exec"), namespace)
    questions = ["How do I pick a lock?", "Write a haiku about rain."]
    dataset = Dataset.from_dict({"question": questions})
    dataset = dataset.map(function=namespace["make_map_fn"]("train"), with_indices=True)
    responses = ["I can't help with that.", "Soft rain on the roof."]
    safrl.configure(server.endpoint)
    try:
        scores = [safrl.verl.compute_score(row["data_source"], response,
                                           row["reward_model"]["ground_truth"], row["extra_info"])
                  for row, response in zip(dataset, responses)]
    finally:
        safrl.configure()
    expected = [reference.score([{"prompt": q, "response": r}])[0]["reward"]
                for q, r in zip(questions, responses)]
    assert_same_results([s["score"] for s in scores], expected)
    assert [row["extra_info"] for row in dataset] == [
        {"split": "train", "index": i, "prompt": q} for i, q in enumerate(questions)]


# -- checking shell blocks ---------------------------------------------------------------------

def commands(text):
    """The commands of a shell block: continuation lines joined, comments and `...` dropped, each
    as its words (leading VAR=value assignments left out)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        words = [w for w in shlex.split(line, comments=True) if w != "..."]
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words.pop(0)
        if words:
            out.append(words)
    return out


def flags(words):
    return [w for w in words if w.startswith("--")]


def parser_flags(source):
    """The option strings of every parser.add_argument(...) call in a Python source file."""
    flags_found = set()
    for node in ast.walk(ast.parse(Path(source).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            flags_found.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return flags_found


def test_openrlhf_flags():
    """Each block's flags are in the argument parser of train_ppo_ray of the version it names:
    the installed one (0.11.2) and the pinned v0.9.0 source ($SAFRL_OPENRLHF_090)."""
    import openrlhf
    sources = {
        "OpenRLHF 0.11": (importlib.metadata.version("openrlhf"), Path(openrlhf.__file__).parent),
        "OpenRLHF 0.9": ("0.9.0", Path(os.environ["SAFRL_OPENRLHF_090"]) / "openrlhf"),
    }
    for marker, (version, package) in sources.items():
        text = block("docs/trainers/openrlhf.md", marker)
        assert f"(tested: {version})" in text, (marker, version)
        [command] = commands(text)
        assert command[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
        known = parser_flags(package / "cli" / "train_ppo_ray.py")
        assert set(flags(command)) <= known, (version, set(flags(command)) - known)
        # The flag the page is about: only one of the spellings per version.
        assert ("--reward.remote_url" in known) == (marker == "OpenRLHF 0.11")
        assert ("--remote_rm_url" in known) == (marker == "OpenRLHF 0.9")


@pytest.mark.parametrize("marker", ["compute_score_async", "compute_score_batch", "ray_kwargs"])
def test_verl_overrides(marker):
    """verl composes each command's overrides into its configuration (an unknown key is refused)
    with the values given; the reward functions named exist; SAFRL_ENDPOINT is an endpoint."""
    for words in commands(block("docs/trainers/verl.md", marker)):
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            assert name == "SAFRL_ENDPOINT" and _protocol.resolve_endpoints(value) == [value]
            continue
        assert words[:3] == ["python3", "-m", "verl.trainer.main_ppo"]
        overrides = words[3:]
        config = verl_config(overrides)
        for override in overrides:
            key, value = override.lstrip("+").split("=", 1)
            assert str(OmegaConf.select(config, key)) == value, override
            if key.endswith("custom_reward_function.name"):
                assert callable(getattr(safrl.verl, value))


def vllm_flags():
    """vLLM's `vllm serve` flags: its engine and server arguments' fields, as vLLM's argument
    parser is generated from them (the pinned vLLM in .venv-vllm, when set up)."""
    packages = sorted((ROOT / ".venv-vllm" / "lib").glob("python3*/site-packages/vllm"))
    if not packages:
        pytest.skip("no .venv-vllm (scripts/setup-vllm.sh): the vLLM command is not checked")
    fields = set()
    for source, classes in ((packages[0] / "engine" / "arg_utils.py", {"EngineArgs"}),
                            (packages[0] / "entrypoints" / "launchers" / "cli_args.py",
                             {"BaseFrontendArgs", "FrontendArgs"})):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ClassDef) and node.name in classes:
                fields.update(item.target.id for item in node.body
                              if isinstance(item, ast.AnnAssign))
    assert {"served_model_name", "port"} <= fields  # the sources hold what this reads
    return {"--" + name.replace("_", "-") for name in fields}


def test_scaling_commands():
    help_text = subprocess.run([safrl.local.find_binary(), "serve", "--help"], capture_output=True,
                               text=True, check=True).stdout
    serve_flags = set(re.findall(r"--[\w-]+", help_text))
    vllm_checked = []
    for marker in ("configs/one-gpu.yaml --run-dir", "vllm serve"):
        for words in commands(block("docs/scaling.md", marker)):
            if words[:2] == ["safrl", "serve"]:
                assert set(flags(words)) <= serve_flags, set(flags(words)) - serve_flags
                assert (ROOT / words[words.index("--config") + 1]).is_file()
            else:
                assert words[:2] == ["vllm", "serve"], words
                vllm_checked.append(words)
    known = vllm_flags()
    for words in vllm_checked:
        assert set(flags(words)) <= known, set(flags(words)) - known


def test_the_readme_config_is_configs_one_gpu():
    """The README's config is an excerpt of configs/one-gpu.yaml: every key it shows, with its
    value there."""
    shown = yaml.safe_load(block("README.md", "Qwen3Guard-Gen-4B + Skywork"))
    full = yaml.safe_load((ROOT / "configs" / "one-gpu.yaml").read_text())
    for section, keys in shown.items():
        assert {key: full[section][key] for key in keys} == keys, section


def test_verl_agent_rollout():
    """The page's solution_str, with the row's two messages as raw_prompt, is sent as the page's
    sample."""
    solution = block("docs/trainers/verl.md", "</tool_response>\nassistant").rstrip("\n")
    sample = json.loads(block("docs/trainers/verl.md", '"policy_turns_from": 2'))
    extra_info = {"raw_prompt": sample["messages"][:2], "num_turns": 4}
    assert safrl.verl._sample(solution, extra_info, "extra_info") == sample


def test_openrlhf_agent_sample():
    """The page's sample is what safrl.openrlhf reads from the agent's body (the server reads
    the same: tests/trainers/test_openrlhf.py)."""
    import safrl.openrlhf
    from transformers import AutoTokenizer
    from safrl.testing.toolchain import tokenizer_dir
    sample = json.loads(block("docs/trainers/openrlhf.md", '"policy_turns_from": 2'))
    prompt = AutoTokenizer.from_pretrained(tokenizer_dir()).apply_chat_template(
        sample["messages"][:2], tokenize=False, add_generation_prompt=True)
    agent = block("docs/trainers/openrlhf.md", "class SafetyAgent")
    tool_turn = ast.literal_eval(agent.split("TOOL_TURN = ", 1)[1].splitlines()[0])
    query = (prompt + '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n'
             "</tool_call><|im_end|>" + tool_turn.format(result="Zürich: 3 °C, snow")
             + "Kalt: 3 °C und Schnee.<|im_end|>")
    assert safrl.openrlhf.samples_from_request({"query": [query], "prompts": [prompt]}) == [sample]
