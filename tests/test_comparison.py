"""imdb_rnn/experiments/comparison.py and records.py on records as `dvc exp show` lists them and what each
committed, made up per run (no DVC run here; tests/test_experiments.py runs tools.compare), and its values files
against the table they recompute."""

import json
import statistics
import subprocess
import sys

import numpy as np
import pytest
from conftest import GIT_COMMIT, made_up_correct

from imdb_rnn import verdicts
from imdb_rnn.analysis import stats
from imdb_rnn.analysis.aggregated import pack_correct, read_groups
from imdb_rnn.analysis.formatting import points_interval, standard_errors
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import EPOCHS, LAST
from imdb_rnn.core.paths import CORRECT_FILE, ESTIMATES_FILE
from imdb_rnn.experiments import records
from imdb_rnn.experiments.comparison import (
    compare,
    per_review,
    read_sides,
    render,
    table,
    values,
    write_table,
    write_values,
)
from imdb_rnn.experiments.records import Committed, Record, committed, resolve

COMMITTED = {}  # per record revision, what it committed


def record(name, accuracies, experiment=True, diverged=(), baseline="c0ffee", **params):
    """An experiment whose runs hold `accuracies` ({arch: {seed: test_acc}}; last epoch 1 point lower)."""
    rev = f"{name}-rev"
    correct = {
        arch: {
            seed: {e.key: made_up_correct(arch, seed, acc - (e == LAST) * 0.01, e.review_key) for e in EPOCHS}
            for seed, acc in by_seed.items()
        }
        for arch, by_seed in accuracies.items()
    }
    runs = {
        arch: {
            str(seed): {"test_acc": acc, "final_test_acc": acc - 0.01, "diverged": int(arch in diverged)}
            for seed, acc in by_seed.items()
        }
        for arch, by_seed in accuracies.items()
    }
    seeds = sorted({seed for by_seed in accuracies.values() for seed in by_seed})
    COMMITTED[rev] = Committed({"hidden": 64, "seeds": seeds, **params}, runs, correct)
    return Record(name, rev, experiment, baseline)


def load(found: Record) -> Committed:
    if found.rev not in COMMITTED:
        raise StageError(f"{found.name} has no readable {ESTIMATES_FILE}")
    return COMMITTED[found.rev]


BASE = record(
    "main",
    {"lstm_manual": {0: 0.87, 1: 0.872, 2: 0.868, 3: 0.871, 4: 0.869}, "rnn": {0: 0.85, 1: 0.852, 2: 0.849}},
    experiment=False,
)


def side(spec, records):
    return resolve(spec, records, load)


def rows(frame, epoch="best-validation epoch"):
    return {row["arch"]: row for row in frame.to_dict("records") if row.get("epoch") in (epoch, None)}


def compared(records, spec, epochs=EPOCHS, base="main"):
    base = side(base, records)
    return table(compare(base, side(spec, records), epochs), base)


def test_paired_better_worse_and_no_difference():
    records = [
        BASE,
        record("wide", {"lstm_manual": {0: 0.88, 1: 0.883, 2: 0.879, 3: 0.882, 4: 0.881}}, hidden=128),
        record("nll", {"lstm_manual": {0: 0.5, 1: 0.5, 2: 0.5}}, diverged=("lstm_manual",), loss="nll"),
        record("same", {"lstm_manual": {0: 0.8702, 1: 0.8721, 2: 0.8679, 3: 0.8711, 4: 0.8691}}, hidden=96),
    ]
    wide = rows(compared(records, "wide"))["lstm_manual"]
    assert (wide["n base"], wide["n exp"], wide["pairing"], wide["changed params"]) == (5, 5, "5 paired", "hidden=128")
    assert wide["verdict"] == "wide better than main" and wide["difference (points)"] == "+1.10"
    assert wide["SE (points)"].startswith("seed 0.") and ", test 0." in wide["SE (points)"]
    nll = rows(compared(records, "nll"))["lstm_manual"]
    assert nll["verdict"] == "nll worse than main" and nll["diverged runs"] == "nll 3 of 3"
    assert nll["pairing"] == "3 paired; left out: main seeds 3, 4"
    same = rows(compared(records, "same"))["lstm_manual"]
    assert same["verdict"] == verdicts.NOT_DETECTABLE


def test_partly_shared_seeds_are_paired_and_identical_runs_get_no_verdict():
    shared = {seed: COMMITTED[BASE.rev].runs["lstm_manual"][str(seed)]["test_acc"] for seed in (0, 1)}
    records = [BASE, record("nlls", {"lstm_manual": shared}, loss="nll_log_softmax")]
    for epoch in ("best-validation epoch", "last epoch"):
        row = rows(compared(records, "nlls"), epoch)["lstm_manual"]
        assert row["pairing"] == "2 paired; left out: main seeds 2, 3, 4"
        assert (row["difference (points)"], row["95% interval (points)"]) == ("0.00", "none")
        assert row["verdict"] == "identical in all 2 runs"


def test_both_epochs_by_default_or_one():
    records = [BASE, record("wide", {"lstm_manual": {0: 0.88, 1: 0.883, 2: 0.879}}, hidden=128)]
    assert list(compared(records, "wide")["epoch"]) == ["best-validation epoch", "last epoch"]
    assert list(compared(records, "wide", [LAST])["epoch"]) == ["last epoch"]


def test_only_shared_architectures_are_compared_and_names_with_a_dash_work():
    records = [BASE, record("gru-only", {"my-gru": {0: 0.86, 1: 0.87}})]
    assert compared(records, "gru-only").to_dict("records") == [
        {
            "experiment": "gru-only",
            "changed params": "none but seeds",
            "verdict": "not comparable: no architecture in common with main",
        }
    ]
    records = [record("a-1", {"my-gru": {0: 0.86, 1: 0.87}}), record("b-1", {"my-gru": {0: 0.87, 1: 0.872}})]
    assert set(rows(compared(records, "b-1", base="a-1"))) == {"my-gru"}


def test_a_glob_pools_seeds_of_experiments_that_differ_only_in_seeds():
    records = [BASE] + [
        record(f"h128-s{seed}", {"lstm_manual": {seed: 0.88 + seed / 1000}}, hidden=128) for seed in range(3)
    ]
    pooled = side("h128-*", records)
    assert pooled.revs == ["h128-s0-rev", "h128-s1-rev", "h128-s2-rev"] and sorted(pooled.correct["lstm_manual"]) == [
        0,
        1,
        2,
    ]
    row = rows(compared(records, "h128-*"))["lstm_manual"]
    assert (row["n exp"], row["pairing"]) == (3, "3 paired; left out: main seeds 3, 4")
    text = render(side("main", records), compared(records, "h128-*"))
    assert "| h128-* " in text and "paired by seed" in text


def test_unlike_params_in_a_group_unknown_names_and_missing_results_are_errors():
    records = [BASE, record("g-1", {"rnn": {0: 0.8}}, hidden=128), record("g-2", {"rnn": {1: 0.8}}, hidden=64)]
    with pytest.raises(StageError, match="'g-\\*' groups g-1 and g-2, whose params differ in hidden"):
        side("g-*", records)
    with pytest.raises(StageError, match="'nothere' names no experiment"):
        side("nothere", records)
    with pytest.raises(StageError, match="failed has no readable metrics/estimates.json"):
        side("failed", [Record("failed", "rev", True)])
    partial = record("partial", {"rnn": {0: 0.8, 1: 0.81}})
    del COMMITTED[partial.rev].correct["rnn"][1]
    with pytest.raises(StageError, match="has no per-review results for rnn seed 1"):
        side("partial", [partial])


def test_a_margin_only_change_is_no_change_of_the_runs():
    records = [BASE, record("m-1", {"rnn": {0: 0.8}}, equivalence_margin=0.02)]
    assert compared(records, "m-1").loc[0, "changed params"] == "none but seeds"


def test_with_one_run_on_a_side_there_is_no_interval():
    records = [BASE, record("one", {"rnn": {0: 0.86}})]
    row = rows(compared(records, "one"))["rnn"]
    assert (row["pairing"], row["95% interval (points)"]) == ("1 paired; left out: main seeds 1, 2", "none")
    assert row["verdict"] == verdicts.NO_INTERVAL


def test_one_side_runs_from_one_commit():
    twice = [
        BASE,
        record("h128", {"rnn": {0: 0.8}}, baseline="aaaa111"),
        record("h128", {"rnn": {0: 0.81}}, baseline="bbbb222"),
    ]
    with pytest.raises(StageError, match="'h128' names experiments that ran from different commits"):
        side("h128", twice)
    mixed = [
        BASE,
        record("g-1", {"rnn": {0: 0.8}}, baseline="aaaa111"),
        record("g-2", {"rnn": {1: 0.8}}, baseline="b2"),
    ]
    with pytest.raises(StageError, match="ran from different commits"):
        side("g-*", mixed)


def markdown_cells(text: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `text`, by column."""
    lines = text.split("\n|", 1)[1].split("\n\n", 1)[0].splitlines()
    lines = ["|" + lines[0], *lines[1:]]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def recomputed(data: dict, packed: dict | None, row: dict) -> tuple[str, str]:
    """A row's 95% interval and standard errors from the values file alone (its test_var), or, given the
    per-review results (`packed`, as read_groups reads the .npz), from those: both parts recomputed."""
    base_label = data["baseline"]
    key = row["accuracy"]
    if packed is not None:
        base = {seed: by_key[key] for seed, by_key in packed[base_label][row["arch"]].items()}
        other = {seed: by_key[key] for seed, by_key in packed[row["experiment"]][row["arch"]].items()}
        result = stats.difference(base, other)
        assert (list(result.paired), list(result.base_seeds), list(result.other_seeds)) == (
            row["paired_seeds"],
            row["base_seeds"],
            row["other_seeds"],
        )
        estimate = result.estimate
    else:
        by_label = {entry["label"]: entry for entry in data["sides"]}
        base_runs = by_label[base_label]["runs"][row["arch"]]
        other_runs = by_label[row["experiment"]]["runs"][row["arch"]]
        if row["paired_seeds"]:
            differences = [other_runs[str(s)][key] - base_runs[str(s)][key] for s in row["paired_seeds"]]
            mean, n = statistics.fmean(differences), len(differences)
            seed_parts = ((statistics.variance(differences) / n, n - 1),)
        else:
            sides = [
                [runs[str(seed)][key] for seed in row[seeds]]
                for runs, seeds in ((base_runs, "base_seeds"), (other_runs, "other_seeds"))
            ]
            mean = statistics.fmean(sides[1]) - statistics.fmean(sides[0])
            seed_parts = tuple((statistics.variance(values) / len(values), len(values) - 1) for values in sides)
        estimate = stats.Estimate(len(row["paired_seeds"]), mean, None, seed_parts, row["test_var"])
    interval = points_interval(estimate.interval(data["confidence"]))
    return interval, standard_errors(estimate)


def mismatches(text: str, data: dict, packed: dict | None = None) -> list[str]:
    """The table's intervals and standard errors that the values (and per-review results) do not reproduce."""
    shown = {
        (cell["experiment"], cell["arch"], cell["epoch"]): (cell["95% interval (points)"], cell["SE (points)"])
        for cell in markdown_cells(text)
    }
    found = []
    for row in data["rows"]:
        cell = shown[row["experiment"], row["arch"], data["accuracies"][row["accuracy"]]]
        if recomputed(data, packed, row) != cell:
            found.append(f"{row['experiment']} {row['arch']} {row['accuracy']}: {cell[0]}")
    return found


RECORDS = [
    BASE,
    record("wide", {"lstm_manual": {0: 0.88, 1: 0.883, 2: 0.879, 3: 0.882, 4: 0.8805}}, hidden=128),
    record("b128", {"lstm_manual": {0: 0.865, 1: 0.8655, 2: 0.8641}, "rnn": {1: 0.853, 2: 0.845}}, batch_size=128),
    record("apart", {"lstm_manual": {5: 0.869, 6: 0.874, 7: 0.866}}, hidden=32),
]


def written(tmp_path):
    """The table, values and per-review results of tools.compare -o for RECORDS, as read back from the files."""
    base, sides = side("main", RECORDS), [side(spec, RECORDS) for spec in ("wide", "b128", "apart")]
    found = [row for other in sides for row in compare(base, other)]
    output = tmp_path / "out.md"
    write_table(output, render(base, table(found, base)))
    write_values(output, values(base, sides, found), per_review(base, sides, found))
    packed = read_groups(output.with_suffix(".npz"), "out.npz", "tools.compare -o")
    return output.read_text(), json.loads(output.with_suffix(".json").read_text()), packed


def test_the_values_file_recomputes_every_interval_of_the_table(tmp_path):
    text, data, _ = written(tmp_path)
    assert len(data["rows"]) == 2 * 4 and data["sides"][0]["runs"]["rnn"]["1"] == {
        "test_acc": 0.852,
        "final_test_acc": pytest.approx(0.842),
        "diverged": False,
    }
    assert any(not row["paired_seeds"] for row in data["rows"])  # "apart" shares no seed: independent
    assert mismatches(text, data) == []
    data["sides"][1]["runs"]["lstm_manual"]["2"]["test_acc"] += 0.004  # a mutated value is caught
    assert mismatches(text, data) == ["wide lstm_manual test_acc: " + markdown_cells(text)[0]["95% interval (points)"]]


def test_the_per_review_results_recompute_both_parts_of_every_interval(tmp_path):
    text, data, packed = written(tmp_path)
    assert set(packed) == {"main", "wide", "b128", "apart"} and set(packed["main"]) == {"lstm_manual", "rnn"}
    assert mismatches(text, data, packed) == []
    flipped = packed["wide"]["lstm_manual"][0]["test_acc"]
    flipped[: flipped.size // 4] ^= True  # a mutated review is caught
    assert mismatches(text, data, packed)[0].startswith("wide lstm_manual test_acc")


def test_the_table_is_rendered_again_from_its_values_and_per_review_results(tmp_path):
    text, _, _ = written(tmp_path)
    base, sides = read_sides(tmp_path / "out.md", "rewrite it", lambda label: COMMITTED[f"{label}-rev"].params)
    assert [side.label for side in sides] == ["wide", "b128", "apart"] and base.revs == ["main-rev"]
    assert render(base, table([row for side in sides for row in compare(base, side)], base)) == text
    (tmp_path / "out.json").unlink()
    with pytest.raises(StageError, match="out.json not found: write it with `rewrite it`"):
        read_sides(tmp_path / "out.md", "rewrite it", lambda label: {})


def test_what_a_commit_holds_is_read_at_its_revision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], check=True)
    correct = {"rnn": {0: {e.key: np.arange(12) % (3 + index) > 0 for index, e in enumerate(EPOCHS)}}}
    CORRECT_FILE.parent.mkdir()
    np.savez_compressed(CORRECT_FILE, **pack_correct({"": correct}))
    runs = {"rnn": {"0": {"test_acc": 0.5, "final_test_acc": 0.4, "diverged": 0}}}
    ESTIMATES_FILE.write_text(json.dumps({"rnn": {}, "runs": runs}))
    (tmp_path / "params.yaml").write_text("hidden: 8\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run([*GIT_COMMIT, "-qm", "results"], check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    CORRECT_FILE.unlink()  # the commit's copy is read, not the workspace's
    found = committed(Record("exp", rev, True))
    assert found.params == {"hidden": 8} and found.runs == runs
    assert np.array_equal(found.correct["rnn"][0]["final_test_acc"], correct["rnn"][0]["final_test_acc"])
    subprocess.run(["git", "rm", "-q", CORRECT_FILE.as_posix()], check=True)
    subprocess.run([*GIT_COMMIT, "-qm", "no results"], check=True)
    with pytest.raises(StageError, match="old .* has no readable metrics/correct.npz"):
        committed(Record("old", "HEAD", True))


def test_an_experiment_still_queued_running_or_failed_is_no_side(monkeypatch):
    """Its files would be read at its baseline: the study's runs taken for its own (seen as a seed run twice)."""
    rows = [{"typ": "baseline", "rev": "main", "Experiment": None, "State": None}]
    for name, state in (("x-0", "Success"), ("x-1", "Running"), ("x-2", "Queued"), ("x-3", "Failed"), ("x-4", None)):
        rows.append({"typ": "branch_commit", "rev": f"{name}-rev", "Experiment": name, "State": state})
    monkeypatch.setattr(records.dvc.api, "exp_show", lambda num: rows)
    assert [(found.name, found.is_experiment) for found in records.experiment_records()] == [
        ("main", False),
        ("x-0", True),
        ("x-4", True),
    ]
