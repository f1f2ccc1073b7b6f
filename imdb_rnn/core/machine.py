"""The machine a run ran on, as every stage records it (without torch, for the stages that do not import it)."""

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it ("AMD EPYC", "Intel(R) Xeon(R) ..."), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
