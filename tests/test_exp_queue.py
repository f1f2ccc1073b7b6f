"""imdb_rnn/experiments/exp_queue.py, under `tools.ablations run`: experiments N at once on DVC's queue; Ctrl-C stops every
process it started, and the same command resumes, restoring the finished runs from DVC's run cache."""

import sys

import pytest
import yaml
from conftest import GIT_COMMIT, copy_project, interrupt_after_first_success, processes_in, run_command
from test_comparison import markdown_cells

from tools import ablations

STUDY = {
    "archs": ["rnn"],
    "experiments": {name: {"params": {"hidden": hidden}, "seeds": [0]} for name, hidden in (("h4", 4), ("h6", 6))},
}


@pytest.fixture(scope="module")
def project(reproduced, tmp_path_factory):
    """The tiny reproduced study, committed (`run` compares the ablations with it), and two ablations."""
    root = copy_project(reproduced, tmp_path_factory.mktemp("queue") / "project")
    claims = yaml.safe_load((root / "claims.yaml").read_text())
    (root / "claims.yaml").write_text(yaml.safe_dump(claims | {"ablations": STUDY}))
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "a tiny study"], root)
    return root


def test_an_interrupted_run_stops_everything_then_resumes_from_the_run_cache(project):
    exit_status, log = interrupt_after_first_success(
        [sys.executable, "-m", "tools.ablations", "run", "-j", "1"], project
    )
    assert exit_status == 130, log
    assert "run the same command to resume" in log
    assert processes_in(project) == []
    assert "Queued" not in run_command(["dvc", "queue", "status"], project).stdout
    finished = log.split("success: ")[1].split()[0]

    output = run_command([sys.executable, "-m", "tools.ablations", "run", "-j", "2"], project).stdout
    assert "every entry was compared with the study" in output
    written = markdown_cells((project / ablations.REPORT).read_text())
    assert {cell["experiment"] for cell in written} == {"h4", "h6"}  # then compared with the study
    assert "landed: reports/ablations.json and .npz rewritten" in output  # as the last seed landed
    assert set(run_command(["dvc", "exp", "list", "--name-only"], project).stdout.split()) == {"h4-0", "h6-0"}
    assert "train@rnn-0' is cached - skipping run" in run_command(["dvc", "queue", "logs", finished], project).stdout
    (project / ablations.REPORT.with_suffix(".json")).unlink()  # compared again from the experiments alone
    collected = run_command([sys.executable, "-m", "tools.ablations", "collect"], project).stdout
    assert "every entry was compared" in collected and (project / ablations.REPORT.with_suffix(".json")).exists()
    assert processes_in(project) == []
