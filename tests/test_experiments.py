"""End to end: experiments, seeds, comparisons and a remote on a git + DVC copy of the project.

The tests share one project and run in file order: a baseline, an ablation, reruns, seeds added
and removed, comparisons, plots, a push/pull round trip, then wrong values.
"""

import json
import sys

import pytest
from conftest import GIT_COMMIT, TINY_MODEL, make_dvc_project, run_command

ARCHS = ["rnn"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = make_dvc_project(tmp_path_factory.mktemp("experiments"), **TINY_MODEL | {"epochs": 1, "archs": ARCHS})
    run_command(["dvc", "repro"], root)
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "baseline"], root)
    return root


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def exp_run(root, *options: str) -> set[str]:
    return stages_run(run_command(["dvc", "exp", "run", *options], root).stdout)


def shown(root) -> dict[str, dict]:
    """The metrics of every experiment (by name) and of the workspace, from `dvc exp show --json`."""
    result = {}
    for commit in json.loads(run_command(["dvc", "exp", "show", "--json"], root).stdout):
        entries = [(commit.get("name") or commit["rev"], commit)]
        entries += [(experiment["name"], experiment["revs"][0]) for experiment in commit.get("experiments") or []]
        for name, entry in entries:
            result[name] = entry["data"]["metrics"]["metrics/summary.json"]["data"]
    return result


def test_an_ablation_reruns_only_what_depends_on_its_param(baseline):
    assert exp_run(baseline, "-n", "hidden16", "-S", "hidden=16") == {
        "train@rnn-0",
        "evaluate@rnn-0",
        "aggregate",
        "plot",
        "report",
    }


def test_exp_show_lists_both_runs_with_one_seed(baseline):
    metrics = shown(baseline)
    assert metrics["hidden16"]["rnn"]["n"] == 1 and isinstance(metrics["hidden16"]["rnn"]["best"], float)
    table = run_command(["dvc", "exp", "show", "--no-pager", "--md"], baseline).stdout
    assert "rnn.best" in table and "metrics/summary.json:" not in table  # one file: no path prefixes
    assert not any(column in table for column in ("diff.", "runs.rnn", "diverged", "test_acc", "low"))  # the headline


def test_an_unchanged_exp_run_reruns_nothing(baseline):
    assert exp_run(baseline) == set()


def test_returning_to_earlier_params_restores_from_the_cache(baseline):
    result = run_command(["dvc", "exp", "run", "-S", f"hidden={TINY_MODEL['hidden']}"], baseline)
    assert not any(stage.startswith("train@") for stage in stages_run(result.stdout))
    assert "is cached - skipping run" in result.stdout


def test_adding_a_seed_trains_only_that_seed_and_gives_an_interval(baseline):
    ran = exp_run(baseline, "-n", "seeds01", "-S", "seeds=[0,1]")
    assert {stage for stage in ran if stage.startswith(("train@", "evaluate@", "tokenize"))} == {
        f"{stage}@{arch}-1" for stage in ("train", "evaluate") for arch in ARCHS
    }
    rnn = shown(baseline)["seeds01"]["rnn"]
    estimate = json.loads((baseline / "metrics/estimates.json").read_text())["rnn"]["test_acc"]  # the workspace's
    assert rnn["n"] == 2 and estimate["low"] < rnn["best"] == estimate["mean"] < estimate["high"]


def test_removing_a_seed_and_adding_it_back_trains_nothing(baseline):
    assert not any(stage.startswith("train@") for stage in exp_run(baseline, "-S", "seeds=[1]"))
    assert not any(stage.startswith("train@") for stage in exp_run(baseline, "-S", "seeds=[0,1]"))


def test_compare_prints_a_difference_with_its_interval(baseline):
    exp_run(baseline, "-n", "h16-s1", "-S", "hidden=16", "-S", "seeds=[1]")
    command = [sys.executable, "-m", "tools.compare", "seeds01", "h*16*", "hidden16"]
    output = run_command(command, baseline).stdout
    cells = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in output.splitlines() if line.startswith("|")
    ]
    header = cells[0]
    rows = {(row[0], row[2], row[header.index("epoch")]): dict(zip(header, row, strict=True)) for row in cells[2:]}
    assert header[:5] == ["experiment", "changed params", "arch", "n base", "n exp"]
    assert {epoch for _, _, epoch in rows} == {"best-validation epoch", "last epoch"}  # both by default
    pooled = rows["h*16*", "rnn", "last epoch"]  # hidden16 (seed 0) and h16-s1 (seed 1): the same params but seeds
    assert pooled["changed params"] == "hidden=16"
    assert (pooled["n base"], pooled["n exp"], pooled["pairing"]) == ("2", "2", "2 paired")
    # tiny models may all score the same: then no interval, and the verdict says why
    no_spread = ("identical in all 2 runs", "the same value in all 2 runs")
    assert pooled["95% interval (points)"].startswith("[") or pooled["verdict"].startswith(no_spread)
    single = rows["hidden16", "rnn", "best-validation epoch"]  # seed 0 only: paired on it, seed 1 left out
    assert single["pairing"] == "1 paired; left out: seeds01 seed 1"
    assert single["95% interval (points)"] == "none" and single["verdict"] == "no interval (fewer than 2 runs)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["seeds01", "nothere"], "'nothere' names no experiment, branch or commit"),
        (["seeds01", "*"], "whose params differ in hidden"),
    ],
)
def test_compare_reports_a_bad_side_clearly(baseline, arguments, message):
    result = run_command([sys.executable, "-m", "tools.compare", *arguments], baseline, check=False)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_plots_diff_draws_both_runs_on_a_page_that_needs_no_internet(baseline, tmp_path):
    run_command(["dvc", "plots", "diff", "main", "seeds01", "-o", str(tmp_path / "diff")], baseline)
    html = (tmp_path / "diff" / "index.html").read_text()
    assert '"rev": "main"' in html and '"rev": "seeds01"' in html
    assert "<script src=" not in html and "cdn." not in html and "vegaEmbed" in html
    assert html.count("vegaEmbed(") == 3  # accuracy, loss and test accuracy: no per-seed dvclive charts


def test_push_then_pull_in_a_fresh_clone_retrains_nothing(baseline, tmp_path):
    run_command(["git", "reset", "-q", "--hard"], baseline)  # the workspace holds the last experiment: back to main
    run_command(["dvc", "checkout", "--force"], baseline)
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
    assert (clone / "models/rnn-0.pt").exists()
    result = run_command(["dvc", "repro"], clone)
    assert stages_run(result.stdout) == set() and "up to date" in result.stdout
    run_command(["dvc", "exp", "pull", "origin", "hidden16"], clone)
    assert "hidden16" in run_command(["dvc", "exp", "list", "--all-commits"], clone).stdout


def experiment_refs(root) -> set[str]:
    """The git refs where DVC records each experiment (`dvc exp list`, in milliseconds), less its own `exec` ones."""
    refs = run_command(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], root).stdout
    return {ref for ref in refs.splitlines() if not ref.startswith("refs/exps/exec/")}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("loss=foo", "'loss' = 'foo'"),
        ("archs=[cnn]", "imdb_rnn/architectures/cnn.py"),  # DVC: the architecture's file does not exist
        ("hidden='64'", "'hidden' = '64': Input should be a valid integer"),
        ("seeds=[0,0]", "'seeds' = [0, 0]: a value is listed twice"),
        ("seeds=[-1]", "'seeds' = '-1': a seed is a non-negative integer"),  # train@rnn--1 refuses it by name
        ("seeds=[x]", "'seeds' = 'x': a seed is a non-negative integer"),
    ],
)
def test_a_wrong_value_fails_before_training_and_records_nothing(baseline, option, message):
    before = experiment_refs(baseline)
    result = run_command(["dvc", "exp", "run", "-S", option], baseline, check=False)
    run_command(["git", "checkout", "--", "params.yaml"], baseline)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert " epoch 1: " not in result.stdout  # no training epoch ran
    assert experiment_refs(baseline) == before
