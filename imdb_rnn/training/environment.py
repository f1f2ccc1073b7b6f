"""How a run computes and where it ran: its threads, the portable-numerics setting, and the machine, recorded
in its metrics (docs/reproducibility.md).

Three libraries under torch choose their code by the CPU they run on, so the same params would give other
last digits on another CPU kind:
- MKL, torch's BLAS (every matrix product), by CPU vendor and instruction set. Its conditional numerical
  reproducibility branch COMPATIBLE (SSE2 code; the one branch MKL also honours on non-Intel CPUs, which
  otherwise get its automatic choice) is the same on every x86-64 CPU. It depends on MKL's thread count.
- ATen, torch's own kernels (elementwise, reductions), by instruction set: capped at AVX2, the floor.
- oneDNN, nn.LSTM's kernel on the CPU, by instruction set: switched off, so that nn.LSTM runs on ATen and
  MKL like every other layer (and capped at AVX2 for anything else that would reach it).
MKL and ATen read their setting once, at their first computation: `configure` runs before any.
"""

import ctypes
import os
import platform
from pathlib import Path

import torch

from imdb_rnn.core.common import StageError
from imdb_rnn.core.machine import cpu_model

PORTABLE_NUMERICS = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE"}  # mkl_cbwr.h's codes of the branches named here


def mkl_branch() -> str | None:
    """The MKL code branch in effect (mkl_cbwr_get), or None where torch has no MKL (not x86-64)."""
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        code = library.mkl_serv_cbwr_get(1)  # MKL_CBWR_BRANCH
    except (OSError, AttributeError):
        return None
    return MKL_BRANCHES.get(code, str(code))


def numerics() -> dict:
    """The numerics in effect: MKL's branch, ATen's instruction set, whether oneDNN is on."""
    return {
        "mkl_branch": mkl_branch(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": torch.backends.mkldnn.enabled,
    }


def configure(threads: int, portable: bool) -> None:
    """Compute on `threads` threads, with the portable-numerics setting if `portable`; StageError if it cannot
    take effect. Call it before the first computation: MKL and ATen keep the setting they read then.
    """
    torch.set_num_threads(threads)
    if not portable or platform.machine() not in ("x86_64", "AMD64"):
        return  # the setting names x86-64 code paths; elsewhere torch's own choice stands (docs/reproducibility.md)
    os.environ.update(PORTABLE_NUMERICS)
    torch.backends.mkldnn.enabled = False
    in_effect = numerics()
    wanted = {"mkl_branch": "COMPATIBLE", "aten_capability": "AVX2"}
    if any(in_effect[key] != value for key, value in wanted.items()):
        raise StageError(
            f"the portable-numerics setting did not take effect ({in_effect}; wanted {wanted}): this CPU lacks AVX2, "
            "or torch computed something before imdb_rnn.training.environment.configure() (call it first)"
        )


def describe(device: torch.device) -> dict:
    """torch version, threads, numerics, device, CPU model, and the GPU, CUDA and cuDNN versions when on CUDA."""
    where = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **numerics(),
        "device": device.type,
        "cpu": cpu_model(),
    }
    if device.type == "cuda":
        where |= {
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return where
