"""Where a run ran: recorded in its metrics, since the numbers depend on it (docs/reproducibility.md).

The same params give bit-identical results on the same kind of machine with the same thread count;
across CPU kinds or on a GPU, torch's kernels differ and so do the last digits.
"""

import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it ("AMD EPYC", "Intel(R) Xeon(R) ..."), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def set_threads(threads: int) -> None:
    """Run torch's CPU kernels on `threads` threads: results depend on it, so it comes from params.yaml."""
    torch.set_num_threads(threads)


def describe(device: torch.device) -> dict:
    """torch version, threads, device, CPU model, and the GPU, CUDA and cuDNN versions when on CUDA."""
    where = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
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
