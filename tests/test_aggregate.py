"""The aggregate stage on per-seed metrics and per-review predictions that the tests write (no training)."""

import json
import math

import numpy as np
import pytest
from conftest import N_REVIEWS, set_params, write_run, write_study

from imdb_rnn.analysis import aggregated, stats
from imdb_rnn.core import paths
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import EPOCHS, LAST
from stages import aggregate


def summary_of(project, accuracies, **params) -> dict:
    set_params(project, archs=list(accuracies), seeds=list(range(len(next(iter(accuracies.values()))))), **params)
    write_study(project, accuracies)
    aggregate.main()
    return json.loads((project / paths.ESTIMATES_FILE).read_text())


def predictions(project, arch: str, seeds, epoch: str = "best") -> dict[int, np.ndarray]:
    result = {}
    for seed in seeds:
        with np.load(project / paths.predictions_file(arch, seed)) as saved:
            result[seed] = saved[epoch]
    return result


def test_mean_std_and_interval_of_both_sources_per_arch(project):
    summary = summary_of(project, {"rnn": [0.80, 0.82, 0.84], "gru": [0.85, 0.86, 0.87]})
    std = math.sqrt((0.02**2 + 0 + 0.02**2) / 2)
    rnn = summary["rnn"]["test_acc"]
    assert summary["rnn"]["n"] == 3 and summary["rnn"]["diverged"] == 0
    assert (rnn["mean"], rnn["std"], rnn["seed_se"]) == pytest.approx((0.82, std, std / math.sqrt(3)), abs=1e-6)
    expected = stats.accuracy(predictions(project, "rnn", range(3)))
    assert rnn["test_se"] == pytest.approx(math.sqrt(expected.test_var)) and rnn["test_se"] > 0
    assert (rnn["low"], rnn["high"]) == pytest.approx(expected.interval(), abs=1e-6)
    assert summary["rnn"]["final_test_acc"]["mean"] == pytest.approx(0.81)
    assert summary["runs"]["gru"]["2"] == {"test_acc": 0.87, "final_test_acc": 0.86, "diverged": 0}


def test_paired_differences_of_every_pair_at_both_epochs(project):
    accuracies = {"rnn": [0.80, 0.82, 0.84], "lstm": [0.82, 0.845, 0.855], "gru": [0.8, 0.82, 0.84]}
    summary = summary_of(project, accuracies)
    differences = summary[aggregated.DIFF]
    assert {(other, base) for other in differences for base in differences[other]["vs"]} == {
        ("lstm", "rnn"),
        ("gru", "rnn"),
        ("gru", "lstm"),
    }
    for epoch in EPOCHS:
        lstm_rnn = differences["lstm"]["vs"]["rnn"][epoch.key]  # differences 0.02, 0.025, 0.015 at both epochs
        assert lstm_rnn["n"] == 3 and lstm_rnn["mean"] == pytest.approx(0.02)
        assert lstm_rnn["seed_se"] == pytest.approx(0.005 / math.sqrt(3), abs=1e-8) and lstm_rnn["low"] > 0
    expected = stats.difference(
        predictions(project, "rnn", range(3), LAST.review_key), predictions(project, "lstm", range(3), LAST.review_key)
    )
    entry = differences["lstm"]["vs"]["rnn"]["final_test_acc"]
    assert (entry["low"], entry["high"]) == pytest.approx(expected.estimate.interval(), abs=1e-6)
    back = aggregated.difference(summary, "lstm", "rnn", "final_test_acc")  # the other way round: rnn − lstm
    assert back.mean == pytest.approx(-0.02)
    assert back.interval() == pytest.approx((-lstm_rnn["high"], -lstm_rnn["low"]), abs=1e-5)


def test_names_with_a_dash_keep_their_keys(project):
    summary = summary_of(project, {"rnn": [0.80, 0.82], "my-gru": [0.83, 0.86], "gru-2": [0.84, 0.85]})
    assert set(summary["diff"]["my-gru"]["vs"]) == {"rnn"} and set(summary["diff"]["gru-2"]["vs"]) == {"rnn", "my-gru"}
    assert aggregated.difference(summary, "my-gru", "gru-2", "test_acc").mean == pytest.approx(0.0)
    assert set(aggregated.read_correct(project / paths.CORRECT_FILE)) == {"rnn", "my-gru", "gru-2"}


def test_the_headline_is_n_and_each_epochs_mean_and_nothing_else(project):
    estimates = summary_of(project, {"rnn": [0.80, 0.82, 0.84], "gru": [0.85, 0.86, 0.87]})
    headline = json.loads((project / paths.SUMMARY_FILE).read_text())
    assert list(headline) == ["rnn", "gru"]
    for arch in headline:
        assert headline[arch] == {"n": 3, **{e.review_key: estimates[arch][e.key]["mean"] for e in EPOCHS}}
    assert (headline["rnn"]["best"], headline["rnn"]["last"]) == pytest.approx((0.82, 0.81))


def test_one_seed_writes_the_interval_as_null(project):
    summary = summary_of(project, {"rnn": [0.8], "gru": [0.85]})
    assert summary["rnn"]["test_acc"] == {
        "mean": 0.8,
        "std": None,
        "low": None,
        "high": None,
        "ci95": None,
        "seed_se": None,
        "test_se": None,
    }
    assert summary["diff"]["gru"]["vs"]["rnn"]["test_acc"]["low"] is None


def test_a_diverged_run_is_counted(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_study(project, {"rnn": [0.5, 0.5]}, diverged=("rnn",))
    aggregate.main()
    summary = json.loads((project / paths.ESTIMATES_FILE).read_text())
    assert summary["rnn"]["diverged"] == 2 and summary["runs"]["rnn"]["1"]["diverged"] == 1


def test_the_per_review_results_are_kept_in_git_sized_form(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_study(project, {"rnn": [0.8, 0.81]})
    aggregate.main()
    correct = aggregated.read_correct(project / paths.CORRECT_FILE)
    for seed, right in predictions(project, "rnn", (0, 1), "last").items():
        assert np.array_equal(correct["rnn"][seed]["final_test_acc"], right) and len(right) == N_REVIEWS
    assert (project / paths.CORRECT_FILE).stat().st_size < 2 * 2 * N_REVIEWS / 8 + 2000  # bits, not bytes


def test_only_the_seeds_in_params_count(project):
    write_study(project, {"rnn": [0.80, 0.82, 0.99]})  # seed 2 is a leftover of an earlier seeds list
    set_params(project, archs=["rnn"], seeds=[0, 1])
    aggregate.main()
    summary = json.loads((project / paths.SUMMARY_FILE).read_text())
    assert summary["rnn"]["n"] == 2 and summary["rnn"]["best"] == pytest.approx(0.81)


def test_a_missing_run_names_the_stage_to_run(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_study(project, {"rnn": [0.80]})
    with pytest.raises(StageError, match=r"metrics/test/rnn-1.json not found: .*dvc repro evaluate@rnn-1"):
        aggregate.main()
    assert not (project / paths.SUMMARY_FILE).exists()


def test_runs_on_different_test_sets_are_refused(project):
    set_params(project, archs=["rnn"], seeds=[0, 1])
    write_run(project, "rnn", 0)
    write_run(project, "rnn", 1, correct={"best": np.ones(50, bool), "last": np.ones(50, bool)})
    with pytest.raises(StageError, match="different numbers of test reviews"):
        aggregate.main()
