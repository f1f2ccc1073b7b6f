"""The registry of architectures: one module of this package per architecture, its file name the architecture's name.

Each module defines LAYER, a recurrent layer class: `LAYER(input_size, hidden_size)` maps x of shape
(T, B, input_size) to all its hidden states, (T, B, hidden_size), starting from zero states. A
hand-written layer also defines TWIN, the name of torch's layer it must match weight for weight.

The file names are the one list of architectures (NAMES): adding one is adding a file. Only the module
of the architecture in use is imported, so a training run depends on its own architecture's code and
on no other's (dvc.yaml's deps of train and evaluate say so).
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names are read without torch, for the stages that only need them
    from torch import nn

NAMES: tuple[str, ...] = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)))


@dataclass(frozen=True)
class Architecture:
    """One architecture: its recurrent layer, and torch's layer it must match (for a hand-written one)."""

    name: str
    layer: Callable[[int, int], "nn.Module"]
    twin: str | None = None


def check_name(name: str) -> str:
    """`name` if it is an architecture; ValueError naming the choices otherwise."""
    if name not in NAMES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(NAMES)}")
    return name


def load(name: str) -> Architecture:
    """The architecture `name`, importing its module (and no other)."""
    module = importlib.import_module(f"{__name__}.{check_name(name)}")
    return Architecture(name, module.LAYER, getattr(module, "TWIN", None))
