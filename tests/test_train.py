import json
import math

import pytest
import torch
from conftest import set_params

from stages import train
from stages.common import StageError
from stages.params import LOSSES, load_params


def read_summary(root, arch):
    return json.loads((root / "metrics/train" / arch / "metrics.json").read_text())


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_gives_a_scalar_that_trains(loss):
    torch.manual_seed(0)
    logits = torch.randn(6, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    value = train.LOSS_FUNCTIONS[loss](logits, labels)
    value.backward()
    assert value.shape == () and torch.isfinite(value) and logits.grad.abs().sum() > 0


def test_nll_with_log_softmax_equals_cross_entropy():
    logits, labels = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    assert torch.allclose(
        train.LOSS_FUNCTIONS["nll_log_softmax"](logits, labels), torch.nn.functional.cross_entropy(logits, labels)
    )


def test_training_logs_every_epoch_and_saves_the_best_model(tokenized):
    summary = train.train("lstm", load_params())
    logged = read_summary(tokenized, "lstm")
    assert logged["step"] == 2 and {"train", "val", "epoch_seconds"} <= logged.keys()
    assert summary.items() <= logged.items() and logged["diverged"] is False
    for name in ("train/acc", "train/loss", "val/acc", "val/loss", "epoch_seconds"):
        rows = (tokenized / "metrics/train/lstm/plots/metrics" / f"{name}.tsv").read_text().splitlines()
        assert rows[1].startswith("1\t") and rows[2].startswith("2\t") and len(rows) == 3
    checkpoint = torch.load(tokenized / "models/lstm.pt", weights_only=True)
    assert checkpoint["arch"] == "lstm" and checkpoint["epoch"] == summary["best_epoch"]
    assert {"hidden", "embed_dim", "pooling", "vocab_sha256", "seq_len", "truncate"} <= checkpoint.keys()


def test_the_same_params_give_the_same_metrics(tokenized):
    runs = []
    for _ in range(2):
        train.train("gru_manual", load_params())
        logged = read_summary(tokenized, "gru_manual")
        runs.append({k: v for k, v in logged.items() if k not in ("epoch_seconds", "train_minutes")})
    assert runs[0] == runs[1]


def test_raw_nll_runs_to_the_end_and_is_flagged_as_diverged(tokenized):
    set_params(tokenized, loss="nll", epochs=3, lr=0.05)
    summary = train.train("rnn", load_params())
    assert summary["diverged"] is True and read_summary(tokenized, "rnn")["step"] == 3
    assert (tokenized / "models/rnn.pt").exists()


def test_a_non_finite_loss_is_recorded_not_silent(tokenized, monkeypatch):
    monkeypatch.setitem(train.LOSS_FUNCTIONS, "cross_entropy", lambda logits, labels: (logits * math.inf).sum())
    summary = train.train("rnn", load_params())
    assert summary["diverged"] is True and summary["nonfinite_batches"] > 0
    checkpoint = torch.load(tokenized / "models/rnn.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(StageError, match="no CUDA GPU"):
        train.resolve_device("cuda")
    assert train.resolve_device("auto").type == "cpu"


def test_a_missing_model_names_the_target_that_makes_it(project):
    with pytest.raises(StageError, match=r"models/gru.pt not found: train it with `dvc repro train@gru`"):
        train.load_model("gru", torch.device("cpu"))
