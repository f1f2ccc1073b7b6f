"""End to end: `dvc repro` in a git + DVC copy of the project, on a tiny generated archive."""

import json

from conftest import GIT_COMMIT, TINY_MODEL, make_dvc_project, run_command
from test_plot import write_run

ARCHS = ["rnn", "lstm", "gru", "lstm_manual"]


def test_dvc_repro_runs_the_data_stages(dvc_project):
    run_command(["dvc", "repro", "tokenize"], dvc_project)
    stats = json.loads((dvc_project / "data/processed/stats.json").read_text())
    assert (stats["train"]["reviews"], stats["val"]["reviews"], stats["test"]["reviews"]) == (44, 4, 48)
    status = run_command(["dvc", "status", "tokenize"], dvc_project)
    assert "up to date" in status.stdout


def test_dvc_repro_runs_the_whole_pipeline_and_then_nothing(tmp_path):
    root = make_dvc_project(tmp_path, **TINY_MODEL | {"epochs": 1})
    run_command(["dvc", "repro"], root)
    for arch in ARCHS:
        assert (root / f"models/{arch}.pt").exists()
    shown = json.loads(run_command(["dvc", "metrics", "show", "--json"], root).stdout)
    metrics = next(iter(shown.values()))["data"]
    for arch in ARCHS:
        assert 0 <= metrics[f"metrics/test/{arch}.json"]["data"]["test_acc"] <= 1
        assert metrics[f"metrics/train/{arch}/metrics.json"]["data"]["best_epoch"] == 1
    again = run_command(["dvc", "repro"], root)
    assert "Running stage" not in again.stdout


def test_dvc_plots_diff_draws_both_revisions_side_by_side(tmp_path):
    """plot and report under dvc repro on written metrics (no training), then the plots section under dvc plots diff."""
    root = make_dvc_project(tmp_path, archs=["rnn", "gru"])
    run_command(["dvc", "repro", "download"], root)
    for arch in ("rnn", "gru"):
        write_run(root, arch, test_acc=0.75)
    run_command(["dvc", "repro", "--single-item", "plot", "report"], root)
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "baseline"], root)
    write_run(root, "gru", test_acc=0.875, epochs=4)
    run_command(["dvc", "repro", "--single-item", "plot", "report"], root)
    assert "0.8750" in (root / "reports" / "results.md").read_text()

    shown = json.loads(run_command(["dvc", "plots", "diff", "HEAD", "--json"], root).stdout)["data"]
    for name, metric in (("accuracy", "acc"), ("loss", "loss")):
        (curves,) = shown[name]
        assert curves["content"]["spec"]["encoding"]["y"]["field"] == metric
        points = {(p["rev"], p["arch"], p["split"], p["epoch"]) for p in curves["content"]["data"]["values"]}
        assert ("HEAD", "gru", "val", "3") in points and ("workspace", "gru", "val", "4") in points
        assert ("HEAD", "gru", "val", "4") not in points
        assert len(points) == 2 * 2 * 3 + 2 * (3 + 4)  # HEAD: 2 archs x 2 splits x 3 epochs; now gru has 4
    (bars,) = shown["test_accuracy"]
    accuracy = {(p["rev"], p["arch"]): p["test_acc"] for p in bars["content"]["data"]["values"]}
    assert accuracy[("HEAD", "gru")] == "0.75" and accuracy[("workspace", "gru")] == "0.875"
    for image in ("plots/accuracy.png", "plots/loss.png", "plots/test_accuracy.png"):
        assert sorted(rev for entry in shown[image] for rev in entry["revisions"]) == ["HEAD", "workspace"]
