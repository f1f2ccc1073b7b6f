"""The aggregate stage on per-seed metrics files that the tests write (no training)."""

import json
import math

import pytest
from conftest import set_params, write_study

from imdb_rnn import paths
from imdb_rnn.common import StageError
from stages import aggregate


def summary_of(project, accuracies, **params) -> dict:
    set_params(project, archs=list(accuracies), seeds=list(range(len(next(iter(accuracies.values()))))), **params)
    write_study(project, accuracies)
    aggregate.main()
    return json.loads((project / paths.SUMMARY_FILE).read_text())


def test_mean_std_and_interval_per_arch(project):
    summary = summary_of(project, {"rnn": [0.80, 0.82, 0.84], "gru": [0.85, 0.86, 0.87]})
    std = math.sqrt((0.02**2 + 0 + 0.02**2) / 2)
    assert summary["rnn"]["n"] == 3 and summary["rnn"]["diverged"] == 0
    assert summary["rnn"]["test_acc"] == pytest.approx(
        {"mean": 0.82, "std": std, "ci95": 4.303 * std / math.sqrt(3)}, abs=1e-4
    )
    assert summary["rnn"]["final_test_acc"]["mean"] == pytest.approx(0.81)
    assert summary["runs"]["gru"]["2"] == {"test_acc": 0.87, "final_test_acc": 0.86, "diverged": 0}


def test_paired_difference_of_every_pair(project):
    summary = summary_of(project, {"rnn": [0.80, 0.82, 0.84], "lstm": [0.82, 0.845, 0.855], "gru": [0.8, 0.82, 0.84]})
    assert list(summary["diff"]) == ["lstm-rnn", "gru-rnn", "gru-lstm"]
    lstm_rnn = summary["diff"]["lstm-rnn"]  # differences 0.02, 0.025, 0.015
    half = 4.303 * 0.005 / math.sqrt(3)
    assert lstm_rnn["n"] == 3 and lstm_rnn["mean"] == pytest.approx(0.02)
    assert (lstm_rnn["low"], lstm_rnn["high"]) == pytest.approx((0.02 - half, 0.02 + half), abs=1e-4)
    assert summary["diff"]["gru-rnn"] == {"n": 3, "mean": 0.0, "low": 0.0, "high": 0.0}


def test_one_seed_reports_the_interval_as_absent(project):
    summary = summary_of(project, {"rnn": [0.8], "gru": [0.85]})
    assert summary["rnn"]["test_acc"] == {"mean": 0.8, "std": None, "ci95": None}
    assert summary["diff"]["gru-rnn"]["low"] is None


def test_a_diverged_run_is_counted(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_study(project, {"rnn": [0.5, 0.5]}, diverged=("rnn",))
    aggregate.main()
    summary = json.loads((project / paths.SUMMARY_FILE).read_text())
    assert summary["rnn"]["diverged"] == 2 and summary["runs"]["rnn"]["1"]["diverged"] == 1


def test_only_the_seeds_in_params_count(project):
    write_study(project, {"rnn": [0.80, 0.82, 0.99]})  # seed 2 is a leftover of an earlier seeds list
    set_params(project, archs=["rnn"], seeds=[0, 1])
    aggregate.main()
    summary = json.loads((project / paths.SUMMARY_FILE).read_text())
    assert summary["rnn"]["n"] == 2 and summary["rnn"]["test_acc"]["mean"] == pytest.approx(0.81)


def test_a_missing_run_names_the_stage_to_run(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_study(project, {"rnn": [0.80]})
    with pytest.raises(StageError, match=r"metrics/test/rnn-1.json not found: .*dvc repro evaluate@rnn-1"):
        aggregate.main()
    assert not (project / paths.SUMMARY_FILE).exists()
