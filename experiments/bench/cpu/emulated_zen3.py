"""vLLM's OpenAI server on an emulated AMD EPYC Milan (Zen 3: AVX2, no AVX-512) against the native
one (RESULTS.md, "Issue 25"). Not a test: the emulated server takes about 10 minutes to start.

    .venv/bin/python -m experiments.bench.cpu.emulated_zen3 [MODEL_DIR]

Needs qemu-user (`scripts/install-deps.sh --tests`) and .venv-vllm. vLLM's CPU platform starts its
engine with multiprocessing's spawn, which runs sys.executable: the emulated interpreter is
reached through a shadow venv (pyvenv.cfg, lib/ -> .venv-vllm/lib, bin/python a qemu wrapper that
keeps its own path as argv[0]), so the spawned processes run emulated too. Prints, for each
server, the seconds to /health, the vLLM kernel library its processes mapped, and /classify's
scores on two sequences, then the largest difference.
"""
import json
import os
import sys
import tempfile
import time
import urllib.request

from safrl.testing.toolchain import REPO
from safrl.testing.vllm_server import VllmServer

IDS = [[151644, 872, 198, 6023, 151645], [151644, 77091, 198, 9707, 151645, 198]]
VENV = os.path.join(REPO, ".venv-vllm")


def emulated_python(folder):
    """A shadow of .venv-vllm whose interpreter runs under qemu's EPYC-Milan."""
    os.makedirs(os.path.join(folder, "bin"))
    with open(os.path.join(VENV, "pyvenv.cfg")) as f:
        config = f.read()
    with open(os.path.join(folder, "pyvenv.cfg"), "w") as f:
        f.write(config)
    os.symlink(os.path.join(VENV, "lib"), os.path.join(folder, "lib"))
    base = os.path.realpath(os.path.join(VENV, "bin", "python"))
    wrapper = os.path.join(folder, "bin", "python")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec qemu-x86_64 -cpu EPYC-Milan -0 "{wrapper}" "{base}" "$@"\n')
    os.chmod(wrapper, 0o755)
    return wrapper


def classify(url):
    body = json.dumps({"model": "skywork-tiny", "input": IDS, "use_activation": False}).encode()
    request = urllib.request.Request(url + "/classify", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as reply:
        return [row["probs"][0] for row in json.load(reply)["data"]]


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "embedded", "reward")
    folder = tempfile.mkdtemp(prefix="zen3-")
    pythons = {"native": os.path.join(VENV, "bin", "python"),
               "zen3": emulated_python(os.path.join(folder, "venv"))}
    results = {}
    for name, python in pythons.items():
        start = time.time()
        server = VllmServer(python, model, "skywork-tiny", os.path.join(folder, f"{name}.log"))
        try:
            server.wait_ready(timeout=3000)
            results[name] = {"ready_s": round(time.time() - start, 1),
                             "libraries": sorted(server.kernel_libraries()),
                             "scores": classify(server.url)}
        finally:
            server.stop()
        print(name, results[name], flush=True)
    worst = max(abs(a - b) for a, b in zip(results["native"]["scores"], results["zen3"]["scores"]))
    print(f"largest |zen3 - native| = {worst:.2g} (logs in {folder})")


if __name__ == "__main__":
    main()
