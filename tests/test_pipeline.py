"""End to end: `dvc repro` in a git + DVC copy of the project, on a tiny generated archive."""

import json

from conftest import run_command


def test_dvc_repro_runs_the_data_stages(dvc_project):
    run_command(["dvc", "repro", "tokenize"], dvc_project)
    stats = json.loads((dvc_project / "data/processed/stats.json").read_text())
    assert (stats["train"]["reviews"], stats["val"]["reviews"], stats["test"]["reviews"]) == (44, 4, 48)
    status = run_command(["dvc", "status", "tokenize"], dvc_project)
    assert "up to date" in status.stdout
