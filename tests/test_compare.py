"""tools.compare on records as `dvc exp show --json` gives them (no DVC run here; tests/test_experiments.py runs it)."""

import pytest

from imdb_rnn.common import StageError
from tools.compare import Record, compare, render, resolve


def record(name, accuracies, experiment=True, diverged=(), baseline="c0ffee", **params):
    """An experiment whose runs.<arch>.<seed> hold `accuracies` ({arch: {seed: test_acc}})."""
    runs = {
        arch: {
            str(seed): {"test_acc": acc, "final_test_acc": acc, "diverged": int(arch in diverged)}
            for seed, acc in by_seed.items()
        }
        for arch, by_seed in accuracies.items()
    }
    seeds = sorted({seed for by_seed in accuracies.values() for seed in by_seed})
    return Record(name, f"{name}-rev", experiment, {"hidden": 64, "seeds": seeds, **params}, {"runs": runs}, baseline)


BASE = record(
    "main", {"lstm_manual": {0: 0.87, 1: 0.872, 2: 0.868}, "rnn": {0: 0.85, 1: 0.852, 2: 0.849}}, experiment=False
)


def rows(table):
    return {row["arch"]: row for row in table.to_dict("records")}


def test_paired_better_worse_and_no_difference():
    records = [
        BASE,
        record("wide", {"lstm_manual": {0: 0.88, 1: 0.883, 2: 0.879}}, hidden=128),
        record("nll", {"lstm_manual": {0: 0.5, 1: 0.5, 2: 0.5}}, diverged=("lstm_manual",), loss="nll"),
        record("same", {"lstm_manual": {0: 0.871, 1: 0.870, 2: 0.869}}, hidden=96),
    ]
    base = resolve("main", records)
    wide = rows(compare(base, resolve("wide", records)))["lstm_manual"]
    assert (wide["n base"], wide["n exp"], wide["method"], wide["changed params"]) == (3, 3, "paired", "hidden=128")
    assert wide["verdict"] == "better than main" and wide["difference (points)"] == "+1.07"
    assert wide["the report"] == "0.8523 (1 run)"  # the report's hidden=128 run
    nll = rows(compare(base, resolve("nll", records)))["lstm_manual"]
    assert nll["verdict"] == "worse than main" and nll["diverged runs"] == "nll 3 of 3"
    assert rows(compare(base, resolve("same", records)))["lstm_manual"]["verdict"] == "no detectable difference at 95%"


def test_only_shared_architectures_are_compared():
    records = [BASE, record("gru-only", {"gru": {0: 0.86, 1: 0.87}})]
    table = compare(resolve("main", records), resolve("gru-only", records))
    assert table.to_dict("records") == [
        {
            "experiment": "gru-only",
            "changed params": "none but seeds",
            "verdict": "not comparable: no architecture in common with main",
        }
    ]


def test_a_glob_pools_seeds_of_experiments_that_differ_only_in_seeds():
    records = [BASE] + [
        record(f"h128-s{seed}", {"lstm_manual": {seed: 0.88 + seed / 1000}}, hidden=128) for seed in range(3)
    ]
    side = resolve("h128-*", records)
    assert side.accuracy == {"lstm_manual": {0: 0.88, 1: 0.881, 2: 0.882}}
    row = rows(compare(resolve("main", records), side))["lstm_manual"]
    assert (row["n exp"], row["method"]) == (3, "paired")
    text = render(resolve("main", records), compare(resolve("main", records), side))
    assert "| h128-* " in text and "paired by seed" in text


def test_unlike_params_in_a_group_unknown_names_and_missing_metrics_are_errors():
    records = [BASE, record("g-1", {"rnn": {0: 0.8}}, hidden=128), record("g-2", {"rnn": {1: 0.8}}, hidden=64)]
    with pytest.raises(StageError, match="'g-\\*' groups g-1 and g-2, whose params differ in hidden"):
        resolve("g-*", records)
    with pytest.raises(StageError, match="'nothere' names no experiment"):
        resolve("nothere", records)
    failed = Record("failed", "rev", True, {}, None)
    with pytest.raises(StageError, match="failed has no per-seed results"):
        resolve("failed", [failed])


def test_with_one_run_on_a_side_there_is_no_interval():
    records = [BASE, record("one", {"rnn": {0: 0.86}})]
    row = rows(compare(resolve("main", records), resolve("one", records)))["rnn"]
    assert (row["method"], row["95% interval (points)"]) == ("welch", "none (n < 2 on a side)")
    assert row["verdict"].startswith("no interval")


def test_one_side_runs_from_one_commit():
    twice = [
        BASE,
        record("h128", {"rnn": {0: 0.8}}, baseline="aaaa111"),
        record("h128", {"rnn": {0: 0.81}}, baseline="bbbb222"),
    ]
    with pytest.raises(StageError, match="'h128' names experiments that ran from different commits"):
        resolve("h128", twice)
    assert resolve("h128-rev", twice[:2]).accuracy == {"rnn": {0: 0.8}}  # by revision
    mixed = [
        BASE,
        record("g-1", {"rnn": {0: 0.8}}, baseline="aaaa111"),
        record("g-2", {"rnn": {1: 0.8}}, baseline="bbbb222"),
    ]
    with pytest.raises(StageError, match="ran from different commits"):
        resolve("g-*", mixed)
