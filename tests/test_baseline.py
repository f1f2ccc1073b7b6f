import json
import os

import numpy as np
import pytest
import scipy.sparse
from conftest import build_archive, set_params

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import BASELINE_CORRECT_FILE, BASELINE_METRICS_FILE, RAW_ARCHIVE, SPLITS_FILE
from stages import baseline

GRID = [0.01, 1.0, 100.0]
TEST_FOLDERS = ("test/pos", "test/neg")


@pytest.fixture
def prepared(tokenized):
    """A tokenized tiny archive (tokenized: 24 reviews per split and label) and a small grid; returns its root."""
    set_params(tokenized, baseline={"C": GRID, "alpha": 1.0, "threads": 1})
    return tokenized


def results(root):
    metrics = json.loads((root / BASELINE_METRICS_FILE).read_text())
    with np.load(root / BASELINE_CORRECT_FILE) as saved:
        correct = np.unpackbits(saved["correct"], count=int(saved["n_reviews"])).astype(bool)
    return metrics, correct


def test_scores_the_test_split_once_with_the_c_of_the_best_validation_accuracy(prepared):
    baseline.main()
    metrics, correct = results(prepared)
    names = json.loads((prepared / SPLITS_FILE).read_text())
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == tuple(
        len(names[s]) for s in ("train", "val", "test")
    )
    assert len(correct) == metrics["n_test"] and metrics["test_acc"] == pytest.approx(correct.mean(), abs=1e-6)
    assert 0 < metrics["test_acc_low"] < metrics["test_acc"] <= metrics["test_acc_high"] <= 1
    assert [row["C"] for row in metrics["selection"]] == GRID
    best = max(row["val_acc"] for row in metrics["selection"])
    assert metrics["chosen_C"] == min(row["C"] for row in metrics["selection"] if row["val_acc"] == best)
    assert metrics["threads"] == 1 and metrics["sklearn"] and metrics["cpu"]


def test_the_best_validation_accuracy_wins_and_the_smallest_c_among_equals(prepared, monkeypatch):
    names = baseline.read_split_names()
    data = baseline.read_splits(prepared / RAW_ARCHIVE, {split: names[split] for split in ("train", "val")})

    class Fitted:  # right on every validation review with C = 1 or 100, wrong on every one with C = 0.01
        def __init__(self, c):
            self.c, self.n_iter_ = c, np.array([1])

        def predict(self, _features):
            return data["val"].labels if self.c > 0.01 else 1 - data["val"].labels

    monkeypatch.setattr(baseline, "fit_classifier", lambda _features, _labels, c: Fitted(c))
    settings = baseline.Settings(C=[100.0, 0.01, 1.0], alpha=1.0, threads=1)
    _features, classifier, chosen, selection = baseline.select(data["train"], data["val"], settings)
    assert chosen == classifier.c == 1.0
    assert [(row["C"], row["val_acc"]) for row in selection] == [(0.01, 0.0), (1.0, 1.0), (100.0, 1.0)]


def test_the_c_is_chosen_before_the_test_split_is_read(prepared, monkeypatch):
    """The test reviews are absent from the archive, and no test review's label taken, until the C is chosen."""
    build_archive(prepared / RAW_ARCHIVE, per_label=24, skip=TEST_FOLDERS)  # the same training reviews
    labelled, chosen = [], []
    label_of, select = baseline.label_of, baseline.select

    def recording_label_of(name):
        labelled.append(name)
        return label_of(name)

    def select_then_restore_the_test_split(*args):
        assert labelled and not any(name.startswith("aclImdb/test/") for name in labelled)
        chosen.append(select(*args))
        build_archive(prepared / RAW_ARCHIVE, per_label=24)
        return chosen[-1]

    monkeypatch.setattr(baseline, "label_of", recording_label_of)
    monkeypatch.setattr(baseline, "select", select_then_restore_the_test_split)
    baseline.main()
    assert len(chosen) == 1 and json.loads((prepared / BASELINE_METRICS_FILE).read_text())["n_test"] == 48


def without_timing(root):
    """metrics/baseline.json less its wall and CPU minutes, which vary from run to run."""
    metrics = json.loads((root / BASELINE_METRICS_FILE).read_text())
    return {key: value for key, value in metrics.items() if key not in ("fit_minutes", "fit_cpu_minutes")}


def test_same_inputs_give_the_same_results_and_byte_identical_review_results(prepared):
    baseline.main()
    metrics, correct = without_timing(prepared), (prepared / BASELINE_CORRECT_FILE).read_bytes()
    baseline.main()
    assert without_timing(prepared) == metrics
    assert (prepared / BASELINE_CORRECT_FILE).read_bytes() == correct


def test_a_failed_run_keeps_the_earlier_outputs_and_leaves_no_partial_file(prepared):
    baseline.main()
    before = {path: (prepared / path).read_bytes() for path in (BASELINE_METRICS_FILE, BASELINE_CORRECT_FILE)}
    build_archive(prepared / RAW_ARCHIVE, per_label=24, skip=TEST_FOLDERS)
    with pytest.raises(StageError, match=r"lacks 48 reviews that data/splits.json lists.*dvc repro tokenize"):
        baseline.main()
    assert {path: (prepared / path).read_bytes() for path in before} == before
    assert sorted(os.listdir(prepared / "metrics")) == sorted(path.name for path in before)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"C": [], "alpha": 1.0, "threads": 1}, r"'baseline.C' = \[\]: List should have at least 1 item"),
        ({"C": [0.1, -1], "alpha": 1.0, "threads": 1}, r"'baseline.C' \(item 1\) = -1: Input should be greater than 0"),
        ({"C": [0.1, 0.1], "alpha": 1.0, "threads": 1}, "'baseline.C' = \\[0.1, 0.1\\]: a value is listed twice"),
        ({"C": [0.1], "alpha": 0, "threads": 1}, "'baseline.alpha' = 0: Input should be greater than 0"),
        ({"C": [0.1], "alpha": 1.0, "threads": 0}, "'baseline.threads' = 0: Input should be greater than 0"),
    ],
)
def test_a_bad_param_is_refused_by_name(prepared, value, message):
    set_params(prepared, baseline=value)
    with pytest.raises(StageError, match=message):
        baseline.main()
    assert not (prepared / BASELINE_METRICS_FILE).exists()


def test_missing_inputs_name_the_stage_that_writes_them(prepared):
    (prepared / RAW_ARCHIVE).unlink()
    with pytest.raises(StageError, match="aclImdb_v1.tar.gz not found.*dvc repro download"):
        baseline.main()
    (prepared / SPLITS_FILE).unlink()
    with pytest.raises(StageError, match="data/splits.json not found.*dvc repro tokenize"):
        baseline.main()


def test_the_log_count_ratio_compares_smoothed_feature_shares():
    indicators = scipy.sparse.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    ratio = baseline.log_count_ratio(indicators, np.array([1, 0, 0]), alpha=1.0)
    p, q = np.array([2.0, 1.0]), np.array([2.0, 3.0])  # 1 + the positive rows' counts; 1 + the negative rows'
    assert ratio == pytest.approx(np.log((p / p.sum()) / (q / q.sum())))
