"""End to end: experiments, comparisons and a remote on a git + DVC copy of the project.

The tests share one project and run in file order: a baseline, an ablation, a rerun,
a return to the baseline's params, plots, a push/pull round trip, then wrong values.
"""

import json

import pytest
from conftest import GIT_COMMIT, TINY_MODEL, make_dvc_project, run_command

ARCHS = ["rnn", "lstm_manual"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = make_dvc_project(tmp_path_factory.mktemp("experiments"), **TINY_MODEL | {"epochs": 1, "archs": ARCHS})
    run_command(["dvc", "repro"], root)
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "baseline"], root)
    return root


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def test_an_ablation_reruns_only_what_depends_on_its_param(baseline):
    result = run_command(["dvc", "exp", "run", "-n", "hidden16", "-S", "hidden=16"], baseline)
    assert stages_run(result.stdout) == {
        "train@rnn",
        "train@lstm_manual",
        "evaluate@rnn",
        "evaluate@lstm_manual",
        "plot",
        "report",
    }


def test_exp_show_lists_both_runs_with_their_metrics(baseline):
    shown = json.loads(run_command(["dvc", "exp", "show", "--json"], baseline).stdout)
    names = {experiment.get("name") for commit in shown for experiment in commit.get("experiments") or []}
    text = json.dumps(shown)
    assert '"hidden": 16' in text and '"hidden": 8' in text
    assert "hidden16" in names
    assert text.count('"test_acc"') >= 2 * len(ARCHS)


def test_an_unchanged_exp_run_reruns_nothing(baseline):
    result = run_command(["dvc", "exp", "run"], baseline)
    assert stages_run(result.stdout) == set()


def test_returning_to_earlier_params_restores_from_the_cache(baseline):
    result = run_command(["dvc", "exp", "run", "-S", f"hidden={TINY_MODEL['hidden']}"], baseline)
    assert not any(stage.startswith("train@") for stage in stages_run(result.stdout))
    assert "is cached - skipping run" in result.stdout


def test_plots_diff_draws_both_runs(baseline, tmp_path):
    run_command(["dvc", "plots", "diff", "main", "hidden16", "-o", str(tmp_path / "diff")], baseline)
    html = (tmp_path / "diff" / "index.html").read_text()
    assert '"rev": "main"' in html and '"rev": "hidden16"' in html


def test_push_then_pull_in_a_fresh_clone_retrains_nothing(baseline, tmp_path):
    run_command(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote")], baseline)
    run_command(["git", "add", ".dvc/config"], baseline)
    run_command([*GIT_COMMIT, "-qm", "add a DVC remote"], baseline)
    run_command(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], baseline)
    run_command(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], baseline)
    run_command(["git", "push", "-q", "origin", "main"], baseline)
    run_command(["dvc", "push"], baseline)
    run_command(["dvc", "exp", "push", "origin", "hidden16"], baseline)

    clone = tmp_path / "clone"
    run_command(["git", "clone", "-q", "-b", "main", str(tmp_path / "origin.git"), str(clone)], tmp_path)
    run_command(["dvc", "pull"], clone)
    assert (clone / "models/lstm_manual.pt").exists()
    result = run_command(["dvc", "repro"], clone)
    assert stages_run(result.stdout) == set() and "up to date" in result.stdout
    run_command(["dvc", "exp", "pull", "origin", "hidden16"], clone)
    assert "hidden16" in run_command(["dvc", "exp", "list", "--all-commits"], clone).stdout


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("loss=foo", "'loss' = 'foo'"),
        ("hidden=0", "'hidden' = 0"),
        ("batch_size=-1", "'batch_size' = -1"),
        ("archs=[cnn]", "unknown architecture cnn; choose from"),
        ("epochs=ten", "'epochs' = 'ten'"),
    ],
)
def test_a_wrong_value_fails_before_training_and_records_nothing(baseline, option, message):
    before = run_command(["dvc", "exp", "list", "--name-only"], baseline).stdout
    result = run_command(["dvc", "exp", "run", "-S", option], baseline, check=False)
    run_command(["git", "checkout", "--", "params.yaml"], baseline)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert " epoch 1: " not in result.stdout  # no training epoch ran
    assert run_command(["dvc", "exp", "list", "--name-only"], baseline).stdout == before
