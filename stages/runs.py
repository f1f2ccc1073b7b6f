"""Read what train@<arch>-<seed> and evaluate@<arch>-<seed> wrote, for the stages that summarise runs.

A missing or unreadable file is a StageError that names the file and the stage that writes it.
"""

import json
from pathlib import Path

import pandas as pd

from stages.common import StageError
from stages.paths import SUMMARY_FILE, epoch_log_file, run_name, test_metrics_file, train_summary_file

EPOCH_METRICS = ("acc", "loss")
SPLITS = ("train", "val")
# The two test accuracies of a run, as evaluate writes them, and what each measures.
ACCURACIES = {"test_acc": "best-validation epoch", "final_test_acc": "last epoch"}


def _missing(path: Path, target: str) -> StageError:
    return StageError(
        f"{path} not found: it is written by stage {target}; run `dvc repro {target}` (or `dvc repro` for everything)"
    )


def read_json(path: Path, target: str) -> dict:
    """The JSON file `path`, which stage `target` writes; StageError if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _missing(path, target) from None
    except json.JSONDecodeError as error:
        raise StageError(f"{path} is not valid JSON ({error}): rewrite it with `dvc repro --force {target}`") from None


def test_metrics(arch: str, seed: int) -> dict:
    """What evaluate@<arch>-<seed> wrote: test_acc, final_test_acc, test_loss, f1, ..."""
    return read_json(test_metrics_file(arch, seed), f"evaluate@{run_name(arch, seed)}")


def train_summary(arch: str, seed: int) -> dict:
    """The summary train@<arch>-<seed> wrote: best_epoch, train_minutes, diverged, device, ..."""
    return read_json(train_summary_file(arch, seed), f"train@{run_name(arch, seed)}")


def summary() -> dict:
    """What the aggregate stage wrote: per architecture n, means, intervals, per-seed values; the differences."""
    return read_json(SUMMARY_FILE, "aggregate")


def curves(arch: str, seed: int) -> pd.DataFrame:
    """Accuracy and loss per epoch and split of one run: columns arch, seed, epoch, split, acc, loss."""
    frames = []
    for split in SPLITS:
        columns = {}
        for metric in EPOCH_METRICS:
            path = epoch_log_file(arch, seed, split, metric)
            try:
                columns[metric] = pd.read_csv(path, sep="\t").set_index("step")[metric]
            except FileNotFoundError:
                raise _missing(path, f"train@{run_name(arch, seed)}") from None
        frame = pd.concat(columns, axis=1).rename_axis("epoch").reset_index()
        frames.append(frame.assign(arch=arch, seed=seed, split=split))
    return pd.concat(frames, ignore_index=True)[["arch", "seed", "epoch", "split", *EPOCH_METRICS]]
