import pytest
import torch

from imdb_rnn.core.common import StageError
from imdb_rnn.training import loops


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(StageError, match="no CUDA GPU"):
        loops.resolve_device("cuda")
    assert loops.resolve_device("auto").type == "cpu"


def test_a_non_finite_batch_is_counted_and_skipped():
    model = torch.nn.Linear(2, 2)
    before = model.weight.detach().clone()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, ids, lengths):
            return self.inner(ids.float())

    data = [(torch.ones(3, 2), torch.ones(3), torch.tensor([0, 1, 0]))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, accuracy, nonfinite = loops.train_epoch(
        Wrapped(), data, lambda logits, labels: logits.sum() * torch.inf, optimizer, torch.device("cpu"), "test"
    )
    assert nonfinite == 1 and loss != loss and accuracy != accuracy  # NaN: no batch counted
    assert torch.equal(model.weight, before)
