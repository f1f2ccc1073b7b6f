import math

import pytest
import torch

from imdb_rnn.training.losses import LOSS_FUNCTIONS, is_diverged


@pytest.mark.parametrize("loss", LOSS_FUNCTIONS)
def test_every_loss_gives_a_scalar_that_trains(loss):
    torch.manual_seed(0)
    logits = torch.randn(6, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    value = LOSS_FUNCTIONS[loss](logits, labels)
    value.backward()
    assert value.shape == () and torch.isfinite(value) and logits.grad.abs().sum() > 0


def test_nll_with_log_softmax_equals_cross_entropy():
    logits, labels = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    assert torch.allclose(
        LOSS_FUNCTIONS["nll_log_softmax"](logits, labels), torch.nn.functional.cross_entropy(logits, labels)
    )


def test_raw_nll_rewards_larger_outputs_without_bound():
    labels = torch.tensor([0, 1])
    small, large = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[100.0, 0.0], [0.0, 100.0]])
    assert LOSS_FUNCTIONS["nll"](large, labels) < LOSS_FUNCTIONS["nll"](small, labels) < 0


@pytest.mark.parametrize(
    ("loss", "diverged"), [(0.3, False), (0.0, False), (-1.0, True), (math.nan, True), (math.inf, True)]
)
def test_a_negative_or_non_finite_loss_has_diverged(loss, diverged):
    assert is_diverged(loss) is diverged
