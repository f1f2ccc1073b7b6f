import pytest
import yaml
from conftest import PROJECT

from imdb_rnn.common import StageError
from tools import ablations


def test_the_committed_study_changes_only_keys_of_params_yaml():
    study = ablations.load_study(PROJECT / ablations.STUDY_FILE)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for experiment in study["experiments"].values():
        assert set(experiment["params"]) <= set(params) and set(experiment["seeds"]) <= set(params["seeds"])


def test_an_experiment_becomes_dvcs_set_options():
    study = {"archs": ["lstm_manual"]}
    experiment = {"params": {"hidden": 128, "loss": "nll", "trim_batches": False}, "seeds": [0, 1]}
    assert ablations.set_options(study, experiment) == [
        *("-S", "archs=[lstm_manual]"),
        *("-S", "seeds=[0,1]"),
        *("-S", "hidden=128"),
        *("-S", "loss=nll"),
        *("-S", "trim_batches=false"),
    ]


def test_queued_and_running_experiments_are_pending():
    status = """Task     Name       Created    Status
77c28d3  hidden128  03:22 PM   Running
3fdfedb  batch128   03:22 PM   Queued
37129aa  nll        03:22 PM   Success
f91fbe1  nlls       03:22 PM   Failed

Worker status: 2 active, 0 idle"""
    assert ablations.pending(status) == ["hidden128", "batch128"]


def test_a_study_without_seeds_is_refused(tmp_path):
    path = tmp_path / "ablations.yaml"
    path.write_text("archs: [rnn]\nexperiments:\n  h128:\n    params: {hidden: 128}\n")
    with pytest.raises(StageError, match="experiment h128 needs params and seeds"):
        ablations.load_study(path)
