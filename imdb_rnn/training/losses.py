"""The training losses, by the name params.yaml gives them: the only list of losses.

Every loss takes the classifier's raw outputs (logits, shape (B, 2)) and the labels. `nll` applies
NLLLoss to the raw outputs directly, as the report's failed run did: it rewards ever larger
outputs and is unbounded below. The others are proper losses, never below 0.
"""

import math
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

LossFunction = Callable[[Tensor, Tensor], Tensor]


def _nll_of_log_softmax(logits: Tensor, labels: Tensor) -> Tensor:
    return F.nll_loss(F.log_softmax(logits, dim=1), labels)


def _mse_of_probabilities(logits: Tensor, labels: Tensor) -> Tensor:
    return F.mse_loss(logits.softmax(dim=1), F.one_hot(labels, 2).to(logits.dtype))


LOSS_FUNCTIONS: dict[str, LossFunction] = {
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "nll_log_softmax": _nll_of_log_softmax,
    "multi_margin": F.multi_margin_loss,
    "mse": _mse_of_probabilities,
}


def is_diverged(loss: float) -> bool:
    """A loss that is not finite, or below 0 (which no proper loss reaches), has diverged."""
    return not math.isfinite(loss) or loss < 0
