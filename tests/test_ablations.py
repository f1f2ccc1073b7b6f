"""tools.ablations: the study's schema, its -S options, its report on made-up experiments, and the committed
table recomputed, both parts of every interval, from the committed files alone."""

import json

import pytest
import yaml
from conftest import PROJECT
from test_compare import BASE, load, markdown_cells, mismatches, record

from imdb_rnn.analysis.aggregated import read_groups
from imdb_rnn.core.common import StageError
from tools import ablations

MARGIN = 0.01
COMMITTED_REPORT = PROJECT / ablations.REPORT


def test_the_committed_study_changes_only_keys_of_params_yaml():
    study = ablations.load_study(PROJECT / ablations.STUDY_FILE)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for experiment in study.experiments.values():
        assert set(experiment.params) <= set(params) and set(experiment.seeds) <= set(params["seeds"])
    assert set(study.archs) <= set(params["archs"])


def test_an_experiment_becomes_dvcs_set_options(tmp_path):
    path = tmp_path / "ablations.yaml"
    path.write_text(
        "archs: [lstm_manual]\nexperiments:\n  x:\n    params: {hidden: 128, loss: nll, trim_batches: false}\n"
        "    seeds: [0, 1]\n"
    )
    assert ablations.set_options(ablations.load_study(path), "x") == [
        *("-S", "archs=[lstm_manual]"),
        *("-S", "seeds=[0,1]"),
        *("-S", "hidden=128"),
        *("-S", "loss=nll"),
        *("-S", "trim_batches=false"),
    ]


@pytest.mark.parametrize(
    ("entry", "refused"),
    [
        ("params: {hidden: 128}", "experiments.h128.seeds: Field required"),
        ("params: {hidden: 128}\n    seeds: [0, -1]", "a seed is a non-negative integer"),
        ("params: {}\n    seeds: [0]", "experiments.h128.params"),
        ("params: {hidden: 128}\n    seeds: [0]\n    claim: {text: x, kind: maybe}", "experiments.h128.claim.kind"),
        ("params: {hidden: 128}\n    seeds: [0]\n    reportd: 0.8", "experiments.h128.reportd: Extra inputs"),
    ],
)
def test_a_wrong_study_is_refused_with_the_key(tmp_path, entry, refused):
    path = tmp_path / "ablations.yaml"
    path.write_text(f"archs: [rnn]\nexperiments:\n  h128:\n    {entry}\n")
    with pytest.raises(StageError, match=refused):
        ablations.load_study(path)


def test_adding_an_ablation_is_one_entry_and_it_shows_in_the_report(tmp_path, monkeypatch):
    """README's "Adding an ablation": one entry in ablations.yaml, and the report has its row, claim and figure."""
    study_file = tmp_path / "ablations.yaml"
    added = {
        "params": {"embed_dim": 128},
        "seeds": [0, 1, 2],
        "claim": {"text": "a wider embedding helps", "kind": "better"},
        "reported": 0.861,
    }
    study = yaml.safe_load((PROJECT / ablations.STUDY_FILE).read_text())
    study["experiments"]["embed128"] = added
    study_file.write_text(yaml.safe_dump(study))
    monkeypatch.chdir(tmp_path)
    runs = {0: 0.88, 1: 0.883, 2: 0.879}
    records = [BASE, record("embed128", {"lstm_manual": runs}, embed_dim=128)]
    records += [
        record(name, {"lstm_manual": runs}) for name in ablations.load_study(PROJECT / "ablations.yaml").experiments
    ]
    text = ablations.report(ablations.load_study(study_file), MARGIN, records, load)
    (row, _) = [cell for cell in markdown_cells(text) if cell["experiment"] == "embed128"]
    assert row["changed params"] == "embed_dim=128" and row["the report's claim"] == "a wider embedding helps"
    assert row["claim: verdict"] == "holds" and row["the report"] == "0.8610 (1 run)"
    assert (tmp_path / ablations.REPORT).read_text() == text
    data = json.loads((tmp_path / ablations.REPORT).with_suffix(".json").read_text())
    packed = read_groups((tmp_path / ablations.REPORT).with_suffix(".npz"), "ablations.npz", "tools.ablations report")
    assert set(packed) == {"main", "embed128", *study["experiments"]} and mismatches(text, data, packed) == []


@pytest.mark.skipif(
    not COMMITTED_REPORT.with_suffix(".npz").exists(),
    reason=f"{ablations.REPORT.with_suffix('.npz')} is not committed yet: rerun the ablations "
    "(python -m tools.ablations run) and write it (python -m tools.ablations report)",
)
def test_every_figure_of_the_committed_ablation_table_is_recomputed_from_committed_files():
    text = COMMITTED_REPORT.read_text()
    data = json.loads(COMMITTED_REPORT.with_suffix(".json").read_text())
    packed = read_groups(COMMITTED_REPORT.with_suffix(".npz"), str(ablations.REPORT.with_suffix(".npz")), "report")
    assert len(data["rows"]) == len(markdown_cells(text)) and mismatches(text, data, packed) == []
    assert mismatches(text, data) == []  # the values file alone (its test_var) gives the same
