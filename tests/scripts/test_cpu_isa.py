"""The AVX2 override (SAFRL_FORCE_AVX2=1, safrl.testing.cpu_isa) against a CPU without AVX-512:
qemu-user emulating an AMD EPYC Milan (Zen 3, AVX2 only, the other host of this kind). The
emulated CPU really lacks AVX-512 (an AVX-512 instruction dies there), and safrl's logits under
the override are bit for bit the emulated Zen 3's, in float32 and in bfloat16, so the suites run
under the override (scripts/test.sh) test what a Zen 3 host computes, whatever host CI has."""
import json
import os
import subprocess

import pytest

from safrl.testing import cpu_isa

SAFRL = os.environ["SAFRL_BIN"]
GUARD = os.path.join(os.environ["SAFRL_EMBEDDED"], "guard")
ZEN3 = ["qemu-x86_64", "-cpu", "EPYC-Milan"]
# A guard prompt's ids (user turn, assistant head): logits over the whole vocabulary come back.
IDS = [151644, 872, 198, 6023, 11, 1246, 525, 498, 30, 151645, 198, 151644, 77091, 198]

AVX512_PROGRAM = r"""
#include <stdio.h>
int main(void) {
  float in[16] = {1}, out[16];
  __asm__ volatile("vmovups (%0), %%zmm0\n vaddps %%zmm0, %%zmm0, %%zmm1\n vmovups %%zmm1, (%1)"
                   :: "r"(in), "r"(out) : "xmm0", "xmm1", "memory");
  printf("%g\n", out[0]);
  return 0;
}
"""


def test_the_emulated_zen3_has_no_avx512(tmp_path):
    source, program = tmp_path / "avx512.c", tmp_path / "avx512"
    source.write_text(AVX512_PROGRAM)
    subprocess.run(["cc", "-O1", "-o", str(program), str(source)], check=True)
    emulated = subprocess.run(ZEN3 + [str(program)], capture_output=True, text=True)
    assert emulated.returncode == -4, emulated  # SIGILL: illegal instruction


def logits(dtype, prefix=(), env=None):
    # One thread in both runs: the sums then run in one order (more threads split them).
    env = dict(env or os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(list(prefix) + [SAFRL, "forward", "--model", GUARD, "--dtype", dtype],
                            input=json.dumps({"ids": IDS}) + "\n", capture_output=True, text=True,
                            env=env, check=True, timeout=300)
    return json.loads(result.stdout)["logits"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_override_computes_what_a_zen3_computes(dtype):
    forced = logits(dtype, env=cpu_isa.environment(dict(os.environ, SAFRL_FORCE_AVX2="1")))
    zen3 = logits(dtype, prefix=ZEN3)
    assert len(forced) == 151936
    differing = sum(a != b for a, b in zip(forced, zen3))
    assert differing == 0, (f"{differing} of {len(forced)} logits differ; largest "
                            f"{max(abs(a - b) for a, b in zip(forced, zen3)):.3g}")
