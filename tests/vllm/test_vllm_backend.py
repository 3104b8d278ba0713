"""safrl's vLLM helpfulness backend (helpfulness.vllm) against real vLLM servers (vLLM 0.32.0,
CPU build): the scores equal safrl's local engine on the same checkpoint, for a sequence
classifier (/classify) and a WorldPM-shaped per-token reward model (/pooling, token_classify);
inputs over the server's context are refused as too_long; a wrong model name, a server that is
not there, a tokenizer that differs from the served one and a task the model does not compute
stop the server at start with a message saying what to fix; and a vLLM server that goes away mid-run makes requests
`unavailable`, which safrl's client waits out until vLLM is back, every sample counted once."""
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

import safrl
from conftest import KEY_ENV
from safrl.testing import cpu_isa
from safrl.testing.live_server import EMBEDDED, SAFRL, Server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# vLLM's CPU kernels sum in another order than safrl's engine: in float32 the scores (of size 0.1
# to 4 here) differ by at most 5.1e-6 on these models (measured, largest on the WorldPM shape);
# 2e-5 leaves room for another CPU's kernels, while a wrong or shifted token moves a score by
# 0.1 or more.
TOLERANCE = 2e-5

PROMPT = "How do I bake bread at home?"
SAMPLES = (
    # A GRPO group: four answers to one prompt (one request, one vLLM call).
    [{"prompt": PROMPT, "response": r, "step": 1} for r in (
        "Mix flour, water, yeast and salt; knead; let it rise; bake at 230°C.",
        "I can't help with that.",
        "Bread: 500 g flour, 350 g water, 7 g yeast, 10 g salt. Knead 10 min, proof 1 h.",
        "",
    )]
    + [{"prompt": "你好，今天天气怎么样？", "response": "你好！我无法查看实时天气。🌤", "step": 1},
       {"prompt": "Write a haiku", "response": "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
        "step": 1},
       {"prompt": "Explain TCP", "response": "TCP " * 300, "step": 1},
       {"prompt": "Steps?", "response": "1. a\n2. b\n\n<|im_end|> is text here", "step": 1}]
)


def models_yaml(helpfulness):
    # helpfulness_only: the reward is the helpfulness score itself, so rewards compare too.
    return (f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
            f"helpfulness:\n{helpfulness}reward: {{type: helpfulness_only}}\n")


def local_yaml(kind, model_dir, score_token="last"):
    fmt = "qwen3" if kind == "classify" else "chatml"
    return models_yaml(f"  model: {model_dir}\n  chat_format: {fmt}\n  score_token: {score_token}\n")


def remote_yaml(kind, server, tokenizer_dir, score_token="last", extra=""):
    fmt = "qwen3" if kind == "classify" else "chatml"
    if server.api_key:
        extra += f"    api_key_env: {KEY_ENV}\n"
    return models_yaml(
        f"  tokenizer: {tokenizer_dir}\n  chat_format: {fmt}\n  score_token: {score_token}\n"
        f"  vllm:\n    url: {server.url}\n    model: {server.name}\n    task: {kind}\n{extra}")


def model_dir(kind, tiny_worldpm):
    return f"{EMBEDDED}/reward" if kind == "classify" else str(tiny_worldpm)


@pytest.mark.parametrize("kind,score_token", [("classify", "last"), ("token_classify", "last"),
                                              ("token_classify", "im_end")])
def test_remote_scores_equal_the_local_engine(tmp_path, vllm, tiny_worldpm, kind, score_token):
    directory = model_dir(kind, tiny_worldpm)
    local = Server(tmp_path, name="local", models_yaml=local_yaml(kind, directory, score_token))
    remote = Server(tmp_path, name="remote",
                    models_yaml=remote_yaml(kind, vllm[kind], directory, score_token))
    try:
        with safrl.Client(local.endpoint) as a, safrl.Client(remote.endpoint) as b:
            expected, got = a.score(SAMPLES), b.score(SAMPLES)
            info = b.info()
    finally:
        local.stop(9)
        remote.stop(9)
    assert len(got) == len(SAMPLES)
    worst = 0.0
    for e, g in zip(expected, got):
        assert abs(g["helpfulness"] - e["helpfulness"]) <= TOLERANCE, (e, g)
        assert abs(g["reward"] - e["reward"]) <= TOLERANCE
        worst = max(worst, abs(g["helpfulness"] - e["helpfulness"]))
        # The same tokens were scored: the sample's token count (guard + helpfulness) is equal.
        assert g["tokens"] == e["tokens"]
        assert g["case"] == e["case"]
    # Distinct answers get distinct scores: the values compared are not one constant.
    assert len({round(e["helpfulness"], 4) for e in expected}) == len(SAMPLES)
    print(f"{kind}/{score_token}: largest |remote - local| = {worst:.2e}")
    assert info["models"]["helpfulness"] == {
        "backend": "vllm", "url": vllm[kind].url, "model": vllm[kind].name, "task": kind,
        "tokenizer": directory, "max_model_len": 2048, "tokenizer_check": "ok"}


def test_vllm_runs_the_kernel_library_this_cpu_gets(vllm):
    """The library mapped in every vLLM process is the one scripts/setup-vllm.sh names for this
    CPU, or vllm/_C_AVX2 under SAFRL_FORCE_AVX2=1 (a Zen 3 host's, on any host)."""
    if cpu_isa.forced():
        expected = "_C_AVX2"
    else:
        check = subprocess.run(["bash", "scripts/setup-vllm.sh", "--check"], cwd=REPO,
                               capture_output=True, text=True, check=True).stderr
        expected = re.search(r"with vllm/(\w+)\.abi3\.so", check).group(1)
    for server in vllm.values():
        assert server.kernel_libraries() == {expected}, server.name


def test_inputs_over_the_servers_context_are_too_long(tmp_path, vllm):
    remote = Server(tmp_path, name="remote",
                    models_yaml=remote_yaml("classify", vllm["classify"], f"{EMBEDDED}/reward"))
    try:
        with safrl.Client(remote.endpoint) as client:
            with pytest.raises(safrl.BadRequest) as refused:
                client.score([{"prompt": "p", "response": "word " * 2100}])
            # The other requests are still scored.
            assert len(client.score(SAMPLES[:2])) == 2
    finally:
        remote.stop(9)
    assert refused.value.code == "too_long"
    assert ("answer 0 renders to 2116 reward-model tokens, over the vLLM server's max_model_len "
            "of 2048") in str(refused.value)


def start_failure(tmp_path, helpfulness_yaml):
    """What `safrl serve` says when it cannot start with this helpfulness section."""
    config = tmp_path / "bad.yaml"
    config.write_text(models_yaml(helpfulness_yaml) + "server: {endpoint: tcp://127.0.0.1:0}\n")
    done = subprocess.run([SAFRL, "serve", "--config", str(config), "--run-dir",
                           str(tmp_path / "bad-run")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    return done.stderr


def test_a_wrong_setup_stops_the_server_at_start_saying_what_to_fix(tmp_path, vllm):
    server = vllm["classify"]
    tok = f"{EMBEDDED}/reward"
    wrong_name = start_failure(tmp_path, f"  tokenizer: {tok}\n  chat_format: qwen3\n  vllm:\n"
                                         f"    url: {server.url}\n    model: skywork\n"
                                         f"    task: classify\n")
    assert (f"the vLLM server at {server.url} does not serve \"skywork\" (helpfulness.vllm.model); "
            f"it serves \"skywork-tiny\"") in wrong_name

    from safrl.testing.ports import free_port
    nobody = f"http://127.0.0.1:{free_port()}"
    absent = start_failure(tmp_path, f"  tokenizer: {tok}\n  chat_format: qwen3\n  vllm:\n"
                                     f"    url: {nobody}\n    model: m\n    task: classify\n"
                                     f"    startup_timeout_s: 0\n")
    assert (f"no vLLM server answered at {nobody} within helpfulness.vllm.startup_timeout_s (0 s): "
            "Couldn't connect to server") in absent

    # A tokenizer whose ids for " bread" and " of" are swapped: the same pieces, other ids.
    other = tmp_path / "other-tokenizer"
    other.mkdir()
    spec = json.load(open(f"{tok}/tokenizer.json"))
    vocab = spec["model"]["vocab"]
    vocab["Ġbread"], vocab["Ġof"] = vocab["Ġof"], vocab["Ġbread"]
    json.dump(spec, open(other / "tokenizer.json", "w"))
    shutil.copyfile(f"{tok}/tokenizer_config.json", other / "tokenizer_config.json")
    mismatch = start_failure(tmp_path, f"  tokenizer: {other}\n  chat_format: qwen3\n  vllm:\n"
                                       f"    url: {server.url}\n    model: skywork-tiny\n"
                                       f"    task: classify\n")
    assert (f"the tokenizer in {other} (helpfulness.tokenizer) and the model \"skywork-tiny\" "
            f"served at {server.url} tokenize a probe text differently") in mismatch

    keyed = vllm["token_classify"].url
    no_key = start_failure(tmp_path, f"  tokenizer: {tok}\n  chat_format: chatml\n  vllm:\n"
                                     f"    url: {keyed}\n    model: worldpm-tiny\n"
                                     f"    task: token_classify\n")
    assert (f"the vLLM server at {keyed} refused GET /v1/models with HTTP 401: ") in no_key
    assert ("it was started with --api-key: set helpfulness.vllm.api_key_env to the name of an "
            "environment variable holding the key") in no_key

    wrong_task = start_failure(tmp_path, f"  tokenizer: {tok}\n  chat_format: qwen3\n  vllm:\n"
                                         f"    url: {keyed}\n    api_key_env: {KEY_ENV}\n"
                                         f"    model: worldpm-tiny\n    task: classify\n")
    assert (f"the vLLM server at {vllm['token_classify'].url} refused POST /classify: HTTP 404: "
            "Not Found (is helpfulness.vllm.task, classify, what the served model computes? A "
            "sequence classifier is classify, a per-token reward model such as WorldPM "
            "token_classify)") in wrong_task


def score_file(tmp_path, name, config_text, samples):
    """`safrl score` over `samples` with this config: the output lines."""
    config, rows, out = (tmp_path / f"{name}.yaml", tmp_path / f"{name}.jsonl",
                         tmp_path / f"{name}.out.jsonl")
    config.write_text(config_text)
    rows.write_text("".join(json.dumps(dict(s, id=str(i))) + "\n" for i, s in enumerate(samples)))
    subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(rows), "--output",
                    str(out)], check=True, capture_output=True, timeout=300)
    return [json.loads(line) for line in open(out)]


def test_the_recipes_worldpm_config_scores_through_vllm(tmp_path, vllm, tiny_worldpm):
    """experiments/saferl/recipes/configs/safrl-hybrid-worldpm.yaml, expanded as servers.sh
    expands it, with the tiny WorldPM-shaped model in place of WorldPM-72B."""
    server = vllm["token_classify"]
    template = open(f"{REPO}/experiments/saferl/recipes/configs/safrl-hybrid-worldpm.yaml").read()
    text = (template.replace("${GUARD_MODEL}", f"{EMBEDDED}/guard")
            .replace("${HELPFULNESS_MODEL}", str(tiny_worldpm))
            .replace("${WORLDPM_URL}", server.url)
            .replace("model: worldpm-72b",
                     f"model: {server.name}\n    api_key_env: {KEY_ENV}")
            .replace("device: cuda", "device: cpu").replace("dtype: bfloat16", "dtype: float32"))
    assert "${" not in text
    samples = SAMPLES[:6]
    got = score_file(tmp_path, "recipe", text, samples)
    expected = score_file(tmp_path, "local", local_yaml("token_classify", tiny_worldpm), samples)
    for e, g in zip(expected, got):
        assert abs(g["helpfulness"] - e["helpfulness"]) <= TOLERANCE
    # The hybrid reward of the recipe: the random guard's outputs never parse, so each sample
    # gets the unparseable rule's min(unsafe_cap, H) = -10 (H is far above -10 here).
    assert [g["reward"] for g in got] == [-10.0] * len(samples)


def test_vllm_going_away_mid_run_is_waited_out(tmp_path, vllm):
    """Last in this file: it stops the classify server and starts it again."""
    server = vllm["classify"]
    # The judgement cache off: the samples scored before vLLM goes away are sent again and must
    # reach it (from the cache they would be answered without it).
    remote = Server(tmp_path, "batching: {judgement_cache_bytes: 0}\n", name="remote",
                    models_yaml=remote_yaml("classify", server, f"{EMBEDDED}/reward",
                                            extra="    retries: 1\n    timeout_s: 5\n"))
    try:
        with safrl.Client(remote.endpoint) as client:
            before = client.score(SAMPLES[:4])
        server.stop()
        with safrl.Client(remote.endpoint, busy_wait=0) as impatient:
            with pytest.raises(safrl.ServerBusy) as down:
                impatient.score(SAMPLES[:4])
        assert down.value.code == "unavailable"
        assert (f"the vLLM helpfulness server at {server.url} did not answer POST /classify after "
                "2 attempts") in str(down.value)
        assert down.value.retry_after_ms == 5000
        # OpenRLHF's HTTP path: 503 with Retry-After, which its retries wait out.
        body = json.dumps({"query": [PROMPT + " Knead."], "prompts": [PROMPT]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{remote.http_port}/get_reward", body,
                                         {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as http_down:
            urllib.request.urlopen(request, timeout=60)
        assert http_down.value.code == 503
        assert http_down.value.headers["Retry-After"] == "5"
        assert json.loads(http_down.value.read())["error"]["code"] == "unavailable"

        # A trainer's call made while vLLM is down completes once it is back.
        result = {}
        patient = threading.Thread(
            target=lambda: result.update(got=safrl.Client(remote.endpoint).score(SAMPLES[:4])))
        patient.start()
        server.start()
        server.wait_ready()
        patient.join(timeout=300)
        assert not patient.is_alive()
        assert [r["reward"] for r in result["got"]] == [r["reward"] for r in before]
        with safrl.Client(remote.endpoint) as client:
            counters = client.stats()["counters"]
        assert counters["samples"] == 8  # the refused attempts counted nothing
    finally:
        remote.stop(9)
