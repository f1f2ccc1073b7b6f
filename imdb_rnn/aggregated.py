"""Read what the aggregate stage wrote, for plot, report and tools.compare: they read no per-run file.

Also the layout of metrics/correct.npz and of the differences in metrics/summary.json, written by the
aggregate stage with the helpers here, so that the format is defined once.
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn import stats
from imdb_rnn.common import StageError, missing_input, read_json
from imdb_rnn.paths import CORRECT_FILE, CURVES_FILE, RUNS_FILE, SUMMARY_FILE

# The two test accuracies of a run, as evaluate writes them, and which model each measures.
ACCURACIES = {"test_acc": "best-validation epoch", "final_test_acc": "last epoch"}
# Their per-review results' names in metrics/predictions/<run>.npz and metrics/correct.npz.
EPOCHS = {"test_acc": "best", "final_test_acc": "last"}
# summary.json keeps the difference other − base of two architectures at diff.<other>.vs.<base>.<accuracy>:
# nested keys, never a name split on a character that an architecture's name may hold.
DIFF, VERSUS = "diff", "vs"
REVIEWS_KEY = "n_reviews"  # correct.npz: how many test reviews each packed array holds

# Per architecture, seed and accuracy key: whether the run classified each test review right.
Correct = dict[str, dict[int, dict[str, np.ndarray]]]


def summary() -> dict:
    """Per architecture n, means and intervals; the differences; every run's accuracies (metrics/summary.json)."""
    return read_json(SUMMARY_FILE, "aggregate")


def _csv(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise missing_input(path, "aggregate") from None


def curves() -> pd.DataFrame:
    """Per arch, split and epoch, over seeds: n and, for acc and loss, the mean and its 95% interval."""
    return _csv(CURVES_FILE)


def runs() -> pd.DataFrame:
    """One row per run: arch, seed, both test accuracies, best epoch, minutes, diverged, where it ran."""
    return _csv(RUNS_FILE)


def estimate(summary: dict, arch: str, key: str) -> stats.Estimate:
    """The estimate of `arch`'s mean accuracy `key` that the summary holds."""
    return stats.from_fields(summary[arch]["n"], summary[arch][key])


def difference(summary: dict, base: str, other: str, key: str) -> stats.Estimate:
    """The summary's paired difference other − base in accuracy `key` (whichever way round it was stored)."""
    differences = summary[DIFF]
    if base in differences.get(other, {}).get(VERSUS, {}):
        entry = differences[other][VERSUS][base][key]
        return stats.from_fields(entry["n"], entry)
    entry = differences[base][VERSUS][other][key]
    return stats.flipped(stats.from_fields(entry["n"], entry))


def review_count(correct: Correct) -> int:
    """How many test reviews every run scored; StageError if they differ (runs evaluated on different test sets)."""
    lengths = {len(right) for by_seed in correct.values() for by_key in by_seed.values() for right in by_key.values()}
    if len(lengths) != 1:
        raise StageError(
            f"the runs scored different numbers of test reviews ({sorted(lengths)}): they were evaluated on "
            "different test sets; rerun evaluate for every run (`dvc repro`)"
        )
    return lengths.pop()


def pack_correct(correct: Correct) -> dict[str, np.ndarray]:
    """The arrays of correct.npz: `<arch>/<seed>/<best|last>`, bits packed, and how many reviews each holds."""
    packed = {
        f"{arch}/{seed}/{EPOCHS[key]}": np.packbits(right)
        for arch, by_seed in correct.items()
        for seed, by_key in by_seed.items()
        for key, right in by_key.items()
    }
    return {REVIEWS_KEY: np.array(review_count(correct)), **packed}


def read_correct(source: Path | bytes = CORRECT_FILE, origin: str | None = None) -> Correct:
    """Every run's per-review results from correct.npz: a path, or its bytes (from `git show`, say)."""
    name = origin or str(source)
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source) as saved:
            reviews = int(saved[REVIEWS_KEY])
            correct: Correct = {}
            keys = {epoch: key for key, epoch in EPOCHS.items()}
            for entry in saved.files:
                if entry == REVIEWS_KEY:
                    continue
                arch, seed, epoch = entry.rsplit("/", 2)
                right = np.unpackbits(saved[entry], count=reviews).astype(bool)
                correct.setdefault(arch, {}).setdefault(int(seed), {})[keys[epoch]] = right
            return correct
    except FileNotFoundError:
        raise missing_input(Path(name), "aggregate") from None
    except (OSError, ValueError, KeyError) as error:
        raise StageError(
            f"{name} is damaged or of an older layout ({error}): rewrite it with `dvc repro aggregate`"
        ) from None
