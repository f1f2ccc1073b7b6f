"""Read what train@<arch>-<seed> and evaluate@<arch>-<seed> wrote: only the aggregate stage does.

A missing or unreadable file is a StageError that names the file and the stage that writes it.
"""

import numpy as np
import pandas as pd

from imdb_rnn.core.common import StageError, missing_input, read_json
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import epoch_log_file, predictions_file, run_name, test_metrics_file, train_summary_file

EPOCH_METRICS = ("acc", "loss")
SPLITS = ("train", "val")


def test_metrics(arch: str, seed: int) -> dict:
    """What evaluate@<arch>-<seed> wrote: test_acc, final_test_acc, test_loss, f1, where it ran, ..."""
    return read_json(test_metrics_file(arch, seed), f"evaluate@{run_name(arch, seed)}")


def train_summary(arch: str, seed: int) -> dict:
    """The summary train@<arch>-<seed> wrote: best_epoch, train_minutes, diverged, where it ran, ..."""
    return read_json(train_summary_file(arch, seed), f"train@{run_name(arch, seed)}")


def correct(arch: str, seed: int) -> dict[str, np.ndarray]:
    """Per epoch's key (test_acc, final_test_acc), whether the run classified each test review right, in split order."""
    path, stage = predictions_file(arch, seed), f"evaluate@{run_name(arch, seed)}"
    try:
        with np.load(path) as saved:
            return {epoch.key: saved[epoch.review_key].astype(bool) for epoch in EPOCHS}
    except FileNotFoundError:
        raise missing_input(path, stage) from None
    except (OSError, ValueError, KeyError) as error:
        raise StageError(f"{path} is damaged ({error}): rewrite it with `dvc repro --force {stage}`") from None


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
                raise missing_input(path, f"train@{run_name(arch, seed)}") from None
        frame = pd.concat(columns, axis=1).rename_axis("epoch").reset_index()
        frames.append(frame.assign(arch=arch, seed=seed, split=split))
    return pd.concat(frames, ignore_index=True)[["arch", "seed", "epoch", "split", *EPOCH_METRICS]]
