"""Fixtures of the vLLM backend tests: real vLLM servers (the CPU build of .venv-vllm, named by
$SAFRL_VLLM_PYTHON) serving the embedded Skywork-shaped reward model (classify) and a tiny
WorldPM-shaped Qwen2ForRewardModel (token_classify), both with the real Qwen3 tokenizer, and
live `safrl serve` processes (safrl.testing.live_server)."""
import os
import sys

import pytest

from safrl.testing import cpu_isa
from safrl.testing.live_server import EMBEDDED
from safrl.testing.vllm_server import VllmServer

# SAFRL_FORCE_AVX2=1 (python_vllm_avx2): every process started here, vLLM's and safrl's, on the
# AVX2 kernels.
os.environ.update(cpu_isa.environment(os.environ))
VLLM_PYTHON = os.environ.get("SAFRL_VLLM_PYTHON", "")
# scripts/setup-vllm.sh leaves this file instead of a venv where the CPU cannot run the vLLM
# build; the whole suite then reports itself skipped (exit code 77, CTest's SKIP_RETURN_CODE).
UNSUPPORTED = os.path.join(os.path.dirname(os.path.dirname(VLLM_PYTHON)), "UNSUPPORTED")
SKIPPED = 77


def pytest_configure(config):
    if VLLM_PYTHON and not os.path.exists(VLLM_PYTHON) and os.path.exists(UNSUPPORTED):
        with open(UNSUPPORTED) as f:
            reason = f.read().strip()
        sys.stderr.write(f"python_vllm SKIPPED: {reason} (scripts/setup-vllm.sh). The vLLM "
                         "backend is still covered by tests/reward: vllm_protocol_test (real vLLM "
                         "0.32.0 responses, tests/data/vllm) and vllm_helpfulness_test (scripted "
                         "failures).\n")
        pytest.exit("vLLM cannot run on this CPU", returncode=SKIPPED)
# The token_classify server is started with --api-key, as deployed servers often are; the safrl
# servers started by the tests inherit this environment and name the variable in their configs.
KEY_ENV = "SAFRL_TEST_VLLM_KEY"
os.environ[KEY_ENV] = "test-key-0123"


@pytest.fixture(scope="session")
def tiny_worldpm(tmp_path_factory):
    from safrl.testing.embedded_models import write_worldpm
    path = tmp_path_factory.mktemp("tiny-worldpm")
    write_worldpm(str(path), f"{EMBEDDED}/reward")
    return path


@pytest.fixture(scope="session")
def vllm(tmp_path_factory, tiny_worldpm):
    """{"classify": server, "token_classify": server}, started side by side."""
    if not os.path.exists(VLLM_PYTHON):
        pytest.fail(f"SAFRL_VLLM_PYTHON={VLLM_PYTHON!r} does not exist: run scripts/setup-vllm.sh")
    logs = tmp_path_factory.mktemp("vllm-logs")
    servers = {
        "classify": VllmServer(VLLM_PYTHON, f"{EMBEDDED}/reward", "skywork-tiny",
                               logs / "classify.log"),
        "token_classify": VllmServer(VLLM_PYTHON, tiny_worldpm, "worldpm-tiny",
                                     logs / "token_classify.log", api_key=os.environ[KEY_ENV]),
    }
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
            sys.stderr.write(f"--- {server.name} log tail ---\n{server.log_tail(1500)}\n")
