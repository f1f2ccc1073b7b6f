"""End to end: `dvc repro` in a git + DVC copy of the project, on a tiny generated archive."""

import json

import pytest
from conftest import (
    GIT_COMMIT,
    REPRODUCED,
    TINY_MODEL,
    copy_project,
    make_dvc_project,
    run_command,
    write_study,
)
from test_architectures import TWO_LAYER_GRU

from imdb_rnn import architectures
from imdb_rnn.core import paths


def test_dvc_repro_runs_the_data_stages(dvc_project):
    run_command(["dvc", "repro", "tokenize"], dvc_project)
    stats = json.loads((dvc_project / "data/processed/stats.json").read_text())
    assert (stats["train"]["reviews"], stats["val"]["reviews"], stats["test"]["reviews"]) == (44, 4, 48)
    status = run_command(["dvc", "status", "tokenize"], dvc_project)
    assert "up to date" in status.stdout


def test_dvc_repro_runs_the_whole_pipeline_and_then_nothing(reproduced, tmp_path):
    root = copy_project(reproduced, tmp_path / "project")  # every arch runs the stages in test_bench.py
    shown = json.loads(run_command(["dvc", "metrics", "show", "--json"], root).stdout)
    summary = next(iter(shown.values()))["data"][paths.SUMMARY_FILE.as_posix()]["data"]
    (seed,) = TINY_MODEL["seeds"]
    for arch in REPRODUCED["archs"]:
        assert (root / paths.model_file(arch, seed)).exists()
        test_acc = json.loads((root / paths.test_metrics_file(arch, seed)).read_text())["test_acc"]
        assert summary[arch]["n"] == 1 and summary[arch]["best"] == pytest.approx(test_acc, abs=1e-6)
    assert (root / "reports/results.md").read_text().startswith("# Results")
    again = run_command(["dvc", "repro"], root)
    assert "Running stage" not in again.stdout


def test_dvc_plots_diff_draws_both_revisions_side_by_side(tmp_path):
    """aggregate and plot under dvc repro on written metrics (no training), then the plots under dvc plots diff."""
    root = make_dvc_project(tmp_path, archs=["rnn", "gru"], seeds=[0, 1])
    write_study(root, {"rnn": [0.75, 0.76], "gru": [0.80, 0.81]})
    run_command(["dvc", "repro", "--single-item", "aggregate", "plot"], root)
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "baseline"], root)
    write_study(root, {"rnn": [0.75, 0.76], "gru": [0.85, 0.86]})
    run_command(["dvc", "repro", "--single-item", "aggregate", "plot"], root)

    shown = json.loads(run_command(["dvc", "plots", "diff", "HEAD", "--json"], root).stdout)["data"]
    for name, metric in (("accuracy", "acc"), ("loss", "loss")):
        (curves,) = shown[name]
        spec = json.dumps(curves["content"])
        assert f"{metric}_low" in spec and f"{metric}_high" in spec  # the band
        points = {(p["rev"], p["arch"], p["split"], p["epoch"]) for p in curves["content"]["data"]["values"]}
        assert len(points) == 2 * 2 * 2 * 3  # 2 revisions x 2 archs x 2 splits x 3 epochs
    (intervals,) = shown["test_accuracy"]
    values = intervals["content"]["data"]["values"]
    accuracy = {(p["rev"], p["arch"], p["measure"]): p["test_acc"] for p in values}
    assert accuracy[("HEAD", "gru", "best-validation epoch")] == "0.805"
    assert accuracy[("workspace", "gru", "best-validation epoch")] == "0.855"
    assert accuracy[("workspace", "gru", "the report (last epoch)")] == "0.8598"
    assert {p["measure"] for p in values} == {"best-validation epoch", "last epoch", "the report (last epoch)"}
    for image in ("plots/accuracy.png", "plots/loss.png", "plots/test_accuracy.png"):
        assert sorted(rev for entry in shown[image] for rev in entry["revisions"]) == ["HEAD", "workspace"]


def test_a_new_architecture_file_trains_and_benchmarks_and_reruns_no_other_run(reproduced, tmp_path):
    """README's "Adding an architecture", in a copy of the project: one new file, and only its runs are new."""
    root = copy_project(reproduced, tmp_path / "project")
    (root / "imdb_rnn" / "architectures" / "gru2.py").write_text(TWO_LAYER_GRU)
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "a baseline and a throwaway architecture"], root)
    archs = ",".join([*REPRODUCED["archs"], "gru2"])
    ran = run_command(["dvc", "exp", "run", "-S", f"archs=[{archs}]"], root).stdout
    assert {line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage")} == {
        "train@gru2-0",
        "evaluate@gru2-0",
        "aggregate",
        "plot",
        "report",
    }
    assert json.loads((root / "metrics/summary.json").read_text())["gru2"]["n"] == 1
    bench = ["python", "-m", "bench.speed", "--synthetic", "--reviews", "16", "--repeats", "1", "--seq-len", "12"]
    bench += ["--hidden", "4", "--embed-dim", "4", "--batch-size", "8", "--threads", "1", "--archs", "gru2", "--json"]
    report = json.loads(run_command(bench, root).stdout)
    assert [row["arch"] for row in report["results"]] == ["gru2"]
    assert "gru2" not in architectures.NAMES  # the file lives only in the copy
