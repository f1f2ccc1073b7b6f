"""tools.ablations: claims.yaml's ablations as DVC's -S options, their report on made-up experiments, and the
committed table rendered again and recomputed, both parts of every interval, from the committed files alone."""

import json

import pytest
import yaml
from conftest import PROJECT
from test_comparison import BASE, load, markdown_cells, mismatches, record
from test_comparison import COMMITTED as MADE_UP
from test_confirmation import made_up_baseline

from imdb_rnn.analysis import claims
from imdb_rnn.analysis.aggregated import read_groups
from imdb_rnn.core.common import StageError
from imdb_rnn.experiments.records import Committed, Record
from tools import ablations

MARGIN = 0.01
COMMITTED_REPORT = PROJECT / ablations.REPORT
STUDY_PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())
COMMITTED = claims.load_claims(PROJECT / claims.CLAIMS_FILE).ablations


def test_an_experiment_becomes_dvcs_set_options():
    entry = {"params": {"hidden": 128, "loss": "nll", "trim_batches": False}, "seeds": [0, 1]}
    study = claims.Ablations.model_validate({"archs": ["lstm_manual"], "experiments": {"x": entry}})
    assert ablations.set_options(study, "x") == [
        *("-S", "archs=[lstm_manual]"),
        *("-S", "seeds=[0,1]"),
        *("-S", "hidden=128"),
        *("-S", "loss=nll"),
        *("-S", "trim_batches=false"),
    ]


def test_each_seed_is_an_experiment_of_its_own():
    entry = {"params": {"hidden": 128}, "seeds": [0, 1, 3], "archs": ["gru"]}
    study = claims.Ablations.model_validate({"archs": ["lstm_manual"], "experiments": {"x": entry}})
    found = ablations.queued(study, ["x"])
    assert [experiment.name for experiment in found] == ["x-0", "x-1", "x-3"]
    assert found[2].set_params == ("archs=[gru]", "seeds=[3]", "hidden=128")
    assert [experiment.name for experiment in ablations.queued(study, ["x"], [1, 2])] == ["x-1"]


def seed_records(name, runs, arch="lstm_manual", **params):
    """One made-up experiment per seed of entry `name` (<name>-<seed>), as `run` names them."""
    return [record(f"{name}-{seed}", {arch: {seed: acc}}, **params) for seed, acc in runs.items()]


# The study, its runs' best validation accuracies recorded (what a confirmation picks its architecture on).
STUDY = Record("main", "main-with-validation", is_experiment=False, baseline="c0ffee")
MADE_UP[STUDY.rev] = Committed(
    **vars(MADE_UP[BASE.rev]) | {"run_info": {"lstm_manual": {seed: {"best_val_acc": 0.87} for seed in range(5)}}}
)


def made_up_records(names, runs=None):
    """The study and made-up experiments of each name, each with the same three lstm_manual runs."""
    runs = runs or {0: 0.88, 1: 0.883, 2: 0.879}
    return [STUDY, *(found for name in names for found in seed_records(name, runs))]


def test_adding_an_ablation_is_one_entry_and_it_shows_in_the_report(tmp_path, monkeypatch):
    """README's "Adding an ablation": one entry in claims.yaml, and the report has its row, claim and figure."""
    added = {
        "params": {"embed_dim": 128},
        "seeds": [0, 1, 2],
        "claim": {"text": "a wider embedding helps", "kind": "better"},
        "reported": 0.861,
    }
    written = yaml.safe_load((PROJECT / claims.CLAIMS_FILE).read_text())
    written["ablations"]["experiments"]["embed128"] = added
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(written))
    study = claims.load_claims(tmp_path / "claims.yaml").ablations
    records = made_up_records(COMMITTED.experiments)
    records += seed_records("embed128", {0: 0.88, 1: 0.883, 2: 0.879}, embed_dim=128)
    output = tmp_path / ablations.REPORT
    ablations.collect(study, records, load, output)
    monkeypatch.setattr(ablations, "read_baseline", made_up_baseline)  # for a confirmation, if claims.yaml has one
    text = ablations.report(study, MARGIN, STUDY_PARAMS, output)
    (row, _) = [cell for cell in markdown_cells(text) if cell["experiment"] == "embed128"]
    assert row["changed params"] == "embed_dim=128" and row["the report's claim"] == "a wider embedding helps"
    assert row["claim: tested"] == "embed128 − main > 0" and row["claim: verdict"] == "holds"
    assert row["the report"] == "0.8610 (1 run)"
    assert output.read_text() == text
    data = json.loads(output.with_suffix(".json").read_text())
    packed = read_groups(output.with_suffix(".npz"), "ablations.npz", "tools.ablations run")
    assert set(packed) == {"main", "embed128", *COMMITTED.experiments} and mismatches(text, data, packed) == []


def test_the_kept_experiments_must_be_claims_yamls(tmp_path):
    output = tmp_path / ablations.REPORT
    ablations.collect(COMMITTED, made_up_records(COMMITTED.experiments), load, output)
    fewer = COMMITTED.model_copy(update={"experiments": dict(list(COMMITTED.experiments.items())[:2])})
    with pytest.raises(StageError, match="holds 'nll', which claims.yaml does not list: run `python -m tools.abl"):
        ablations.render(fewer, MARGIN, STUDY_PARAMS, output)
    more = COMMITTED.model_copy(update={"experiments": {**COMMITTED.experiments, "x": COMMITTED.experiments["nll"]}})
    with pytest.raises(StageError, match="holds no x \\(in claims.yaml\\)"):
        ablations.render(more, MARGIN, STUDY_PARAMS, output)


needs_the_committed_files = pytest.mark.skipif(
    not COMMITTED_REPORT.with_suffix(".npz").exists(),
    reason=f"{ablations.REPORT.with_suffix('.npz')} is not committed yet: run the ablations (python -m tools.ablations run)",
)


@needs_the_committed_files
def test_the_committed_table_is_rendered_from_the_committed_files_alone():
    margin = STUDY_PARAMS["equivalence_margin"]
    assert ablations.render(COMMITTED, margin, STUDY_PARAMS, COMMITTED_REPORT) == COMMITTED_REPORT.read_text()


@needs_the_committed_files
def test_every_figure_of_the_committed_ablation_table_is_recomputed_from_committed_files():
    text = COMMITTED_REPORT.read_text()
    data = json.loads(COMMITTED_REPORT.with_suffix(".json").read_text())
    packed = read_groups(COMMITTED_REPORT.with_suffix(".npz"), str(ablations.REPORT.with_suffix(".npz")), "report")
    assert len(data["rows"]) == len(markdown_cells(text)) and mismatches(text, data, packed) == []
    assert mismatches(text, data) == []  # the values file alone (its test_var) gives the same


def test_seeds_land_one_by_one_and_a_rerun_keeps_the_committed_ones(tmp_path):
    """Seeds 0 and 1 ran here, seed 2 later (another session): the side pools them; another config starts over."""
    study = COMMITTED.model_copy(update={"experiments": {"wide": COMMITTED.experiments["hidden128"]}})
    output = tmp_path / ablations.REPORT
    ablations.collect(study, [BASE, *seed_records("wide", {0: 0.88, 1: 0.883}, hidden=128)], load, output)
    ablations.collect(study, [BASE, *seed_records("wide", {2: 0.879}, hidden=128)], load, output)
    (wide,) = [
        entry for entry in json.loads(output.with_suffix(".json").read_text())["sides"] if entry["label"] == "wide"
    ]
    assert sorted(wide["runs"]["lstm_manual"]) == ["0", "1", "2"] and wide["params"]["hidden"] == 128
    assert sorted(wide["revs"]) == ["wide-0-rev", "wide-1-rev", "wide-2-rev"]
    ablations.collect(study, [BASE], load, output)  # none ran this time: the kept seeds stay, with their params
    ablations.collect(study, [BASE, *seed_records("wide", {3: 0.9}, hidden=128)], load, output)
    (wide,) = [
        entry for entry in json.loads(output.with_suffix(".json").read_text())["sides"] if entry["label"] == "wide"
    ]
    assert sorted(wide["runs"]["lstm_manual"]) == ["0", "1", "2", "3"]
    ablations.collect(study, [BASE, *seed_records("wide", {3: 0.9}, hidden=256)], load, output)
    (wide,) = [
        entry for entry in json.loads(output.with_suffix(".json").read_text())["sides"] if entry["label"] == "wide"
    ]
    assert sorted(wide["runs"]["lstm_manual"]) == ["3"] and wide["params"]["hidden"] == 256
    with pytest.raises(StageError, match="wide has no run yet: run `python -m tools.ablations run wide`"):
        ablations.collect(study, [BASE], load, tmp_path / "elsewhere" / "ablations.md")


def test_a_comparison_as_a_seed_lands_never_stops_the_runs():
    """`dvc exp show` fails now and then while the queue starts an experiment: tried again, then left be."""
    waits, answers = [], iter([RuntimeError("Empty git repo"), None])

    def compare():
        if answer := next(answers):
            raise answer

    assert ablations.landed("nll-0", compare, waits.append).endswith("ablations.json and .npz rewritten")
    assert waits == [ablations.LANDING_RETRY_SECONDS]

    def failing():
        raise RuntimeError("Empty git repo")

    said = ablations.landed("nll-0", failing, waits.append)
    assert said == "nll-0 landed; not compared yet: `dvc exp show` failed 3 times (Empty git repo)"

    def too_early():
        raise StageError("hidden128 has no run yet")

    assert (
        ablations.landed("nll-0", too_early, waits.append) == "nll-0 landed; not compared yet: hidden128 has no run yet"
    )
