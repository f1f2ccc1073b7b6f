"""Read what the aggregate stage wrote, for plot, report and tools.compare: they read no per-run file."""

import pandas as pd

from imdb_rnn.common import missing_input, read_json
from imdb_rnn.paths import CURVES_FILE, RUNS_FILE, SUMMARY_FILE

# The two test accuracies of a run, as evaluate writes them, and which model each measures.
ACCURACIES = {"test_acc": "best-validation epoch", "final_test_acc": "last epoch"}


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
