"""imdb_rnn/training/optimization.py: each schedule moves the learning rate from lr down to 0 over the training."""

import pytest
import torch

from imdb_rnn.training.optimization import LR_SCHEDULES


@pytest.mark.parametrize(
    ("name", "halfway", "end"), [("constant", 1.0, 1.0), ("cosine", 0.5, 0.0), ("linear", 0.5, 0.0)]
)
def test_a_schedule_runs_from_lr_to_its_end_over_the_steps_it_is_given(name, halfway, end):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = LR_SCHEDULES[name](optimizer, 10)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    assert (
        rates[0] == 1.0 and rates[5] == pytest.approx(halfway) and optimizer.param_groups[0]["lr"] == pytest.approx(end)
    )
