"""The two models of every run that each result is given for, defined once for every stage and tool.

A run keeps the model of its best-validation epoch (the one `evaluate` and `predict` use) and that of
its last epoch (the report's protocol: it quotes the test accuracy after its last epoch).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Epoch:
    """One of a run's two models, by the names it goes by."""

    key: str  # its test accuracy's key: in evaluate's metrics, the summaries, runs.csv and the values files
    review_key: str  # its per-review results' name: in metrics/predictions/<run>.npz and the packed .npz files
    label: str  # in words, in every table and figure


BEST = Epoch("test_acc", "best", "best-validation epoch")
LAST = Epoch("final_test_acc", "last", "last epoch")
EPOCHS = (BEST, LAST)
BY_KEY = {epoch.key: epoch for epoch in EPOCHS}
BY_REVIEW_KEY = {epoch.review_key: epoch for epoch in EPOCHS}
