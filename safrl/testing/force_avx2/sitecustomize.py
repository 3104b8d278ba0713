"""Makes a vLLM server under test take its AVX2 code paths on an AVX-512 CPU (SAFRL_FORCE_AVX2=1,
safrl.testing.cpu_isa). Python imports this module at start-up in every process whose PYTHONPATH
names this folder, so the server's engine processes get it too.

vLLM chooses its kernel library and several kernels from torch.cpu's checks
(vllm/platforms/cpu.py: _C with AVX512-BF16, _C_AVX512, else _C_AVX2); answering "no" to the
AVX-512 ones makes it load vllm/_C_AVX2.abi3.so, the library a Zen 3 host runs. torch's own
kernels are held to AVX2 by the environment (ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS,
ONEDNN_MAX_CPU_ISA) that cpu_isa sets beside this folder.
"""
import torch.cpu

torch.cpu._is_avx512_supported = lambda: False
torch.cpu._is_avx512_bf16_supported = lambda: False
torch.cpu._is_avx512_vnni_supported = lambda: False
torch.cpu._is_amx_tile_supported = lambda: False
torch.cpu._is_amx_fp16_supported = lambda: False
