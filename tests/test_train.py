import json
import math
import re

import pytest
import torch
from conftest import set_params
from dvclive import Live

from imdb_rnn import architectures
from imdb_rnn.core import paths
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import load_params
from imdb_rnn.training import losses
from imdb_rnn.training.checkpoint import load_checkpoint
from imdb_rnn.training.data import load_vocab
from stages import train


def read_summary(root, arch, seed=0):
    return json.loads((root / paths.train_summary_file(arch, seed)).read_text())


def test_training_logs_every_epoch_and_saves_a_self_contained_model(tokenized):
    summary = train.train("lstm", 0, load_params(train.Params))
    logged = read_summary(tokenized, "lstm")
    assert logged["step"] == 2 and {"train", "val", "epoch_seconds"} <= logged.keys()
    assert summary.items() <= logged.items() and logged["diverged"] is False
    assert logged["threads"] == 1 and logged["device"] == "cpu" and logged["torch"] == torch.__version__
    assert logged["cpu"]  # the CPU's model name
    for split in ("train", "val"):
        for metric in ("acc", "loss"):
            rows = (tokenized / paths.epoch_log_file("lstm", 0, split, metric)).read_text().splitlines()
            assert rows[1].startswith("1\t") and rows[2].startswith("2\t") and len(rows) == 3
    checkpoint = load_checkpoint(tokenized / paths.model_file("lstm", 0))
    assert checkpoint.config.arch == "lstm" and checkpoint.best_epoch == summary["best_epoch"]
    assert checkpoint.config.hidden == 8 and checkpoint.seed == 0
    assert checkpoint.vocab == load_vocab() and (checkpoint.seq_len, checkpoint.truncate) == (30, "tail")


def test_the_same_seed_gives_the_same_metrics_and_another_seed_others(tokenized):
    runs = []
    for seed in (0, 0, 1):
        train.train("gru_manual", seed, load_params(train.Params))
        logged = read_summary(tokenized, "gru_manual", seed)
        runs.append({k: v for k, v in logged.items() if k not in ("epoch_seconds", "train_minutes")})
    assert runs[0] == runs[1]
    first, other = (load_checkpoint(tokenized / paths.model_file("gru_manual", seed)) for seed in (0, 1))
    assert not torch.equal(first.final_state_dict["head.0.weight"], other.final_state_dict["head.0.weight"])


def test_raw_nll_runs_to_the_end_and_is_flagged_as_diverged(tokenized):
    set_params(tokenized, loss="nll", epochs=3, lr=0.05)
    summary = train.train("rnn", 0, load_params(train.Params))
    assert summary["diverged"] is True and read_summary(tokenized, "rnn")["step"] == 3
    assert (tokenized / paths.model_file("rnn", 0)).exists()


def test_a_non_finite_loss_is_recorded_not_silent(tokenized, monkeypatch):
    monkeypatch.setitem(losses.LOSS_FUNCTIONS, "cross_entropy", lambda logits, labels: (logits * math.inf).sum())
    summary = train.train("rnn", 0, load_params(train.Params))
    assert summary["diverged"] is True and summary["nonfinite_batches"] > 0
    checkpoint = load_checkpoint(tokenized / paths.model_file("rnn", 0))
    assert all(torch.isfinite(t).all() for t in checkpoint.state_dict.values())


def test_a_failing_run_leaves_no_partial_output_and_keeps_the_earlier_one(tokenized, monkeypatch):
    train.train("rnn", 0, load_params(train.Params))
    model, log = tokenized / paths.model_file("rnn", 0), tokenized / paths.train_summary_file("rnn", 0)
    before = model.read_bytes(), log.read_text()

    def crash(*args, **kwargs):
        raise RuntimeError("crash in epoch 1")

    monkeypatch.setattr(train, "train_epoch", crash)
    with pytest.raises(RuntimeError, match="crash in epoch 1"):
        train.train("rnn", 0, load_params(train.Params))
    assert (model.read_bytes(), log.read_text()) == before
    assert sorted(p.name for p in model.parent.iterdir()) == ["rnn-0.pt"]


def test_the_threads_param_sets_torchs_threads(tokenized):
    set_params(tokenized, threads=2, epochs=1)
    assert train.train("rnn", 0, load_params(train.Params))["threads"] == 2


@pytest.mark.parametrize(
    ("arch", "seed", "refused"),
    [("rnn", "-1", "'seeds' = '-1': a seed is"), ("rnn", "1.5", "'seeds' = '1.5'"), ("nope", "0", "'archs' = 'nope'")],
)
def test_a_wrong_matrix_item_is_refused_by_its_param_before_any_epoch(tokenized, monkeypatch, arch, seed, refused):
    def never(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(train, "train_epoch", never)
    monkeypatch.setattr("sys.argv", ["train", arch, seed])
    with pytest.raises(StageError, match=refused):
        train.main()


MODEL_SPACE = {
    "layers": 2,
    "bidirectional": True,
    "pooling": "mean_max",
    "embedding_dropout": 0.1,
    "layer_dropout": 0.2,
    "head_dropout": 0.3,
    "lr_schedule": "cosine",
    "max_grad_norm": 1.0,
}


def test_every_architecture_trains_with_every_knob_of_the_model_space(tokenized):
    set_params(tokenized, epochs=1, **MODEL_SPACE)
    params = load_params(train.Params)
    for arch in architectures.NAMES:
        summary = train.train(arch, 0, params)
        assert summary["diverged"] is False
        config = load_checkpoint(tokenized / paths.model_file(arch, 0)).config
        assert {key: getattr(config, key) for key in MODEL_SPACE if hasattr(config, key)} == {
            key: value for key, value in MODEL_SPACE.items() if key not in ("lr_schedule", "max_grad_norm")
        }


@pytest.mark.parametrize(
    ("key", "value", "refused"),
    [
        ("layers", 0, "'layers' = 0: Input should be greater than 0"),
        ("bidirectional", "yes", "'bidirectional' = 'yes': Input should be a valid boolean"),
        ("pooling", "median", "'pooling' = 'median': unknown; choose from mean, masked_mean, last, max, mean_max"),
        ("embedding_dropout", 1.0, "'embedding_dropout' = 1.0: Input should be less than 1"),
        ("layer_dropout", -0.1, "'layer_dropout' = -0.1: Input should be greater than or equal to 0"),
        ("head_dropout", "0.5", "'head_dropout' = '0.5': Input should be a valid number (this value is a quoted"),
        ("lr_schedule", "step", "'lr_schedule' = 'step': unknown; choose from constant, cosine, linear"),
        ("max_grad_norm", 0, "'max_grad_norm' = 0: Input should be greater than 0"),
    ],
)
def test_a_wrong_model_space_param_is_refused_by_name(project, key, value, refused):
    set_params(project, **{key: value})
    with pytest.raises(StageError, match=re.escape(refused)):
        load_params(train.Params)


def test_on_epoch_sees_each_epochs_metrics_and_can_stop_the_training(tokenized, tmp_path):
    seen = []

    def stop_after_two(epoch, metrics):
        seen.append((epoch, sorted(metrics)))
        if epoch == 2:
            raise InterruptedError("pruned")

    set_params(tokenized, epochs=5)
    with pytest.raises(InterruptedError), Live(str(tmp_path / "live"), dvcyaml=None, save_dvc_exp=False) as live:
        train.fit("rnn", 0, load_params(train.Params), 60, live, on_epoch=stop_after_two)
    assert seen == [(epoch, ["train_acc", "train_loss", "val_acc", "val_loss"]) for epoch in (1, 2)]
