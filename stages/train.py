"""Stage `train@<arch>-<seed>`: train one classifier and keep the epoch with the best validation accuracy.

    python -m stages.train lstm 0

The seed sets the weight init, dropout and the batch order (the validation split is fixed by
`split_seed`, in `tokenize`). Logs per epoch, with dvclive, into metrics/train/<arch>-<seed>/: train and
validation loss and accuracy and the epoch's wall time (plots/metrics/**.tsv), and a summary
(metrics.json) with the best epoch, the training minutes and whether the loss diverged. Saves to
models/<arch>-<seed>.pt a self-contained checkpoint (imdb_rnn/training/checkpoint.py) with the weights of the
best-validation epoch (the model that `evaluate` and `predict` use) and of the last epoch (the report's protocol).
"""

import argparse
import copy
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import torch
from dvclive import Live
from pydantic import Field

from imdb_rnn import architectures
from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.params import StageParams, check_choice, check_seed, load_params, one_of
from imdb_rnn.core.paths import STATS_FILE, model_file, run_name, train_log_dir
from imdb_rnn.training import environment
from imdb_rnn.training.checkpoint import Checkpoint, save_checkpoint
from imdb_rnn.training.classifier import POOLINGS, ModelConfig, SentimentClassifier
from imdb_rnn.training.data import Split, batches, load_split, load_vocab, trims_batches
from imdb_rnn.training.loops import EVAL_BATCH_SIZE, evaluate, resolve_device, train_epoch
from imdb_rnn.training.losses import LOSS_FUNCTIONS, is_diverged
from imdb_rnn.training.optimization import LR_SCHEDULES


class Params(StageParams):
    embed_dim: int = Field(gt=0)
    hidden: int = Field(gt=0)
    layers: int = Field(gt=0)
    bidirectional: bool
    pooling: Annotated[str, one_of(POOLINGS)]
    embedding_dropout: float = Field(ge=0, lt=1)
    layer_dropout: float = Field(ge=0, lt=1)
    head_dropout: float = Field(ge=0, lt=1)
    loss: Annotated[str, one_of(LOSS_FUNCTIONS)]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    trim_batches: bool
    lr: float = Field(gt=0)
    lr_schedule: Annotated[str, one_of(LR_SCHEDULES)]
    max_grad_norm: float | None = Field(gt=0)
    weight_decay: float = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]
    threads: int = Field(gt=0)
    portable_numerics: bool


def encoding() -> dict:
    """seq_len and truncate of the encoded splits, as tokenize recorded them (saved in the checkpoint)."""
    try:
        stats = json.loads(STATS_FILE.read_text())
    except FileNotFoundError:
        raise StageError(f"{STATS_FILE} not found: it is written by stage tokenize; run `dvc repro tokenize`") from None
    return {"seq_len": stats["seq_len"], "truncate": stats["truncate"]}


@dataclass
class Fitted:
    """A trained model (its weights at the last epoch), the weights of its best-validation epoch, and its summary."""

    config: ModelConfig
    model: SentimentClassifier
    best_epoch: int
    best_val_acc: float
    best_state_dict: dict[str, torch.Tensor]
    summary: dict


EpochCallback = Callable[[int, dict[str, float]], None]


def fit(
    arch: str,
    seed: int,
    params: Params,
    vocab_size: int,
    live: Live,
    splits: tuple[Split, Split] | None = None,
    on_epoch: EpochCallback | None = None,
) -> Fitted:
    """Train `arch` from `seed` with `params`, logging each epoch to `live`; keep the best-validation weights.

    `splits`: the (train, val) splits, data/processed's by default. `on_epoch(epoch, metrics)` is called after
    each epoch's logging; an exception it raises stops the training (tools.search prunes a trial so).
    """
    environment.configure(params.threads, params.portable_numerics)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(params.device)
    train_split, val_split = splits or (load_split("train"), load_split("val"))
    trim = params.trim_batches and trims_batches(params.pooling)
    val_batches = batches(val_split, EVAL_BATCH_SIZE, trim)
    config = ModelConfig.from_params(arch, vocab_size, params)
    model = SentimentClassifier(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    steps_per_epoch = -(-len(train_split["labels"]) // params.batch_size)
    scheduler = LR_SCHEDULES[params.lr_schedule](optimizer, params.epochs * steps_per_epoch)
    loss_fn = LOSS_FUNCTIONS[params.loss]
    shuffle = torch.Generator().manual_seed(seed)
    name = run_name(arch, seed)

    best = {"val_acc": -1.0}
    diverged, nonfinite_total, started = False, 0, time.perf_counter()
    for epoch in range(1, params.epochs + 1):
        live.step = epoch
        epoch_start = time.perf_counter()
        train_batches = batches(train_split, params.batch_size, trim, generator=shuffle)
        desc = f"{name} epoch {epoch}/{params.epochs}"
        train_loss, train_acc, nonfinite = train_epoch(
            model, train_batches, loss_fn, optimizer, device, desc, scheduler, params.max_grad_norm
        )
        val_loss, val_acc = evaluate(model, val_batches, loss_fn, device)
        seconds = time.perf_counter() - epoch_start
        nonfinite_total += nonfinite
        diverged = diverged or nonfinite > 0 or is_diverged(train_loss)
        for metric, value in {
            "train/loss": train_loss,
            "train/acc": train_acc,
            "val/loss": val_loss,
            "val/acc": val_acc,
            "epoch_seconds": seconds,
        }.items():
            live.log_metric(metric, round(value, 6))
        print(
            f"{name} epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
            f"val loss {val_loss:.4f} acc {val_acc:.4f} | {seconds:.1f} s"
        )
        if val_acc > best["val_acc"]:
            best = {"val_acc": val_acc, "epoch": epoch, "state_dict": copy.deepcopy(model.state_dict())}
        live.make_summary()
        if on_epoch is not None:
            on_epoch(
                epoch, {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}
            )
    summary = {
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "train_minutes": round((time.perf_counter() - started) / 60, 3),
        "diverged": diverged,
        "nonfinite_batches": nonfinite_total,
        **environment.describe(device),
    }
    return Fitted(config, model, best["epoch"], best["val_acc"], best["state_dict"], summary)


def save(fitted: Fitted, seed: int, vocab: list[str], path: Path) -> None:
    """Write `fitted` as a self-contained checkpoint (weights on the CPU, vocabulary and encoding included)."""
    checkpoint = Checkpoint(
        config=fitted.config,
        seed=seed,
        best_epoch=fitted.best_epoch,
        best_val_acc=fitted.best_val_acc,
        vocab=vocab,
        **encoding(),
        state_dict={key: tensor.cpu() for key, tensor in fitted.best_state_dict.items()},
        final_state_dict={key: tensor.cpu() for key, tensor in fitted.model.state_dict().items()},
    )
    save_checkpoint(checkpoint, path)


def train(arch: str, seed: int, params: Params) -> dict:
    """Train `arch` from `seed` with `params`; write its log and checkpoint, both or neither; return the summary."""
    vocab = load_vocab()
    with ExitStack() as outputs:
        log_dir = outputs.enter_context(atomic_output(train_log_dir(arch, seed)))
        model_path = outputs.enter_context(atomic_output(model_file(arch, seed)))
        with Live(str(log_dir), dvcyaml=None, save_dvc_exp=False) as live:
            fitted = fit(arch, seed, params, len(vocab), live)
            live.summary.update(fitted.summary)
        save(fitted, seed, vocab, model_path)
    if fitted.summary["diverged"]:
        print(
            f"warning: {run_name(arch, seed)}'s training loss diverged with loss = {params.loss!r}; recorded as diverged: true"
        )
    return fitted.summary


def main() -> None:
    params = load_params(Params)  # first, so that a wrong -S value is reported by its key
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch")
    parser.add_argument("seed")
    args = parser.parse_args()
    check_choice("archs", args.arch, architectures.NAMES)
    seed = check_seed(args.seed)
    summary = train(args.arch, seed, params)
    print(
        f"{run_name(args.arch, seed)}: best val acc {summary['best_val_acc']:.4f} at epoch "
        f"{summary['best_epoch']}, {summary['train_minutes']:.1f} min"
    )


if __name__ == "__main__":
    run_stage(main)
