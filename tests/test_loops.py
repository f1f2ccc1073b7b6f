import pytest
import torch

from imdb_rnn.core.common import StageError
from imdb_rnn.training import loops


class Classifier(torch.nn.Module):
    """A linear model called as the classifier is: with ids and lengths."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids, lengths):
        return self.inner(ids.float())


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(StageError, match="no CUDA GPU"):
        loops.resolve_device("cuda")
    assert loops.resolve_device("auto").type == "cpu"


def test_a_non_finite_batch_is_counted_and_skipped():
    model = torch.nn.Linear(2, 2)
    before = model.weight.detach().clone()

    data = [(torch.ones(3, 2), torch.ones(3), torch.tensor([0, 1, 0]))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, accuracy, nonfinite = loops.train_epoch(
        Classifier(model), data, lambda logits, labels: logits.sum() * torch.inf, optimizer, torch.device("cpu"), "test"
    )
    assert nonfinite == 1 and loss != loss and accuracy != accuracy  # NaN: no batch counted
    assert torch.equal(model.weight, before)


def test_gradients_are_clipped_to_max_grad_norm_and_the_schedule_steps_after_each_batch():
    model = torch.nn.Linear(2, 2)

    data = [(torch.full((3, 2), 100.0), torch.ones(3), torch.tensor([0, 1, 0]))] * 2
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.5, total_iters=2)
    before = [param.detach().clone() for param in model.parameters()]
    loops.train_epoch(
        Classifier(model),
        data[:1],
        torch.nn.functional.cross_entropy,
        optimizer,
        torch.device("cpu"),
        "t",
        scheduler,
        0.01,
    )
    step = torch.cat([(param.detach() - old).flatten() for param, old in zip(model.parameters(), before, strict=True)])
    assert torch.linalg.vector_norm(step) == pytest.approx(0.01, rel=1e-4)  # lr 1 times the clipped gradient
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.75)  # one step of the schedule
