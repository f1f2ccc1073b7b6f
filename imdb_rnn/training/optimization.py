"""How the learning rate moves over a training: the schedules `lr_schedule` names."""

from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler

# name -> the scheduler that moves the learning rate once per optimizer step over `steps` steps (None: keep it).
LR_SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, int], LRScheduler | None]] = {
    "constant": lambda optimizer, steps: None,
    "cosine": lambda optimizer, steps: CosineAnnealingLR(optimizer, T_max=steps),  # half a cosine, down to 0
    "linear": lambda optimizer, steps: LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps),
}
