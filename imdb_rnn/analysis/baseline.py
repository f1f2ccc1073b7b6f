"""What the baseline stage wrote (the NBSVM baseline), and an architecture's paired difference from it.

The baseline is one deterministic model: it has no seed, so its accuracy's interval is the test set's
sample alone (Wilson, stages/baseline.py), and whatever seed an architecture's run has, the baseline's
per-review results are the same. A difference arch − baseline therefore pairs each of the arch's runs
with those results on every test review (stats.difference, paired on each of the arch's seeds): its seed
part is the arch's spread over seeds alone (the baseline's, 0, adds none, and none is invented), and its
test part counts both models' per-review results on the same reviews.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from imdb_rnn.analysis import stats
from imdb_rnn.analysis.aggregated import REVIEWS_KEY
from imdb_rnn.core.common import StageError, missing_input, read_json
from imdb_rnn.core.paths import BASELINE_CORRECT_FILE, BASELINE_METRICS_FILE

STAGE = "baseline"


@dataclass(frozen=True)
class Baseline:
    """Its test accuracy with the 95% Wilson interval, how it was trained, and which test reviews it got right."""

    accuracy: float
    low: float
    high: float
    n_train: int  # training reviews: the study's training split without its validation split
    chosen_c: float  # chosen on the validation split
    val_accuracy: float  # at chosen_c
    correct: np.ndarray  # per test review, in the test split's order


def read_correct() -> np.ndarray:
    """metrics/baseline_correct.npz: whether it classified each test review right, in the test split's order."""
    try:
        with np.load(BASELINE_CORRECT_FILE) as saved:
            return np.unpackbits(saved["correct"], count=int(saved[REVIEWS_KEY])).astype(bool)
    except FileNotFoundError:
        raise missing_input(BASELINE_CORRECT_FILE, STAGE) from None
    except (OSError, ValueError, KeyError) as error:
        raise StageError(
            f"{BASELINE_CORRECT_FILE} is damaged or of an older layout ({error}): "
            f"rewrite it with `dvc repro --force {STAGE}`"
        ) from None


def read_baseline() -> Baseline:
    """metrics/baseline.json and metrics/baseline_correct.npz; StageError if they are missing or disagree."""
    metrics = read_json(BASELINE_METRICS_FILE, STAGE)
    correct = read_correct()
    try:
        chosen = next(row for row in metrics["selection"] if row["C"] == metrics["chosen_C"])
        found = Baseline(
            metrics["test_acc"],
            metrics["test_acc_low"],
            metrics["test_acc_high"],
            metrics["n_train"],
            metrics["chosen_C"],
            chosen["val_acc"],
            correct,
        )
    except (KeyError, TypeError, StopIteration) as error:
        raise StageError(
            f"{BASELINE_METRICS_FILE} lacks a field ({error!r}): rewrite it with `dvc repro --force {STAGE}`"
        ) from None
    if len(correct) != metrics["n_test"]:
        raise StageError(
            f"{BASELINE_CORRECT_FILE} holds {len(correct):,} test reviews and {BASELINE_METRICS_FILE} says "
            f"{metrics['n_test']:,}: rewrite both with `dvc repro --force {STAGE}`"
        )
    return found


def versus(runs: Mapping[int, np.ndarray], baseline: np.ndarray) -> stats.Estimate:
    """arch − baseline in accuracy, from the arch's per-review results by seed, paired review by review.

    StageError if they scored different numbers of test reviews (different test sets).
    """
    lengths = {len(right) for right in runs.values()}
    if lengths != {len(baseline)}:
        raise StageError(
            f"the runs scored {sorted(lengths)} test reviews and the baseline {len(baseline):,}: not the same test "
            "set; rerun both on the current splits (`dvc repro`)"
        )
    return stats.difference(dict.fromkeys(runs, baseline), runs).estimate
