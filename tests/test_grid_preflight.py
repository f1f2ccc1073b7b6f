"""tools.grid's checks before any cell starts, its cells' names, its display, and a cell's process supervisor.

No cluster runs a cell here: the refusals come first, or the parts are tested alone. The shared
project is the tiny one of tests/test_grid.py (a bare git remote, a directory DVC remote).
"""

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import chdir, contextmanager
from pathlib import Path

import psutil
import pytest
from conftest import GIT_COMMIT, make_dvc_project, run_command
from rich.console import Console
from test_grid import GRID, make_grid_project, wait_until

from imdb_rnn.common import StageError
from tools.grid import cli, preflight
from tools.grid.cell import command_env
from tools.grid.landing import FAILED, LANDED
from tools.grid.plan import Cell, plan_cells, validate_cells
from tools.grid.progress import HEARTBEAT_S, Progress
from tools.grid.summary import rows, stage_seconds, table, write_summary

SUPERVISOR = Path(cli.__file__).with_name("supervisor.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_grid_project(tmp_path_factory.mktemp("preflight"))


def head(root: Path) -> str:
    return run_command(["git", "rev-parse", "HEAD"], root).stdout.strip()


def no_cluster(*args, **kwargs):
    raise AssertionError("the cluster was about to be reached, or a cell to run")


def run_grid(root: Path, *args: str) -> None:
    """The command in this process: a refusal comes before any cluster is reached."""
    with chdir(root):
        cli.main(list(args))


def test_cell_names_are_deterministic_ref_safe_and_list_values_are_one_value():
    cells = plan_cells("s", ["hidden=64,128", "archs=[rnn,gru]", "data.url=/a/very/long/path/to/aclImdb_v1.tar.gz"])
    assert [cell.overrides[:2] for cell in cells] == [
        ("hidden=64", "archs=[rnn,gru]"),
        ("hidden=128", "archs=[rnn,gru]"),
    ]
    assert cells[0].name.startswith("s-hidden_64-archs_rnn-gru-data.url_") and len(cells[0].name) < 60
    assert [cell.name for cell in plan_cells("s", ["seeds=[0],[1]"])] == ["s-seeds_0", "s-seeds_1"]
    assert plan_cells("s", ["hidden=64,128"]) == plan_cells("s", ["hidden=64,128"])
    with pytest.raises(StageError, match="cannot parse the -S options"):
        plan_cells("s", ["hidden=[8,16"])


def test_every_wrong_cell_is_named_with_the_stages_of_the_commit_it_will_run(project):
    cells = [
        Cell("fine", ("hidden=16",)),
        Cell("type", ("hidden=abc",)),
        Cell("range", ("epochs=0",)),
        Cell("loss", ("loss=foo",)),
        Cell("arch", ("archs=[rnn2]",)),
    ]
    with pytest.raises(StageError) as refused:
        validate_cells(project, head(project), cells)
    message = str(refused.value)
    assert message.startswith("4 of 5 cells would be refused")
    for name, says in [("type", "'hidden' = 'abc'"), ("range", "'epochs' = 0"), ("loss", "'loss' = 'foo'")]:
        assert re.search(rf"^cell {name} \(-S .*\): invalid params.yaml:\n  {re.escape(says)}", message, re.M)
    assert "'archs' = 'rnn2': unknown; choose from" in message and "cell fine" not in message
    with pytest.raises(StageError, match="Could not override 'hiden'"):  # a key the params file lacks
        validate_cells(project, head(project), [Cell("typo", ("hiden=8",))])


def test_names_are_checked_against_the_commit_not_the_command(tmp_path):
    root = make_grid_project(tmp_path)
    before = head(root)
    architectures = root / "imdb_rnn" / "architectures"
    shutil.copy(architectures / "rnn.py", architectures / "rnn2.py")  # an architecture only the new commit has
    run_command(["git", "add", "-A"], root)
    run_command([*GIT_COMMIT, "-qm", "rnn2"], root)
    validate_cells(root, head(root), [Cell("new", ("archs=[rnn2]",))])
    with pytest.raises(StageError, match="'archs' = 'rnn2': unknown"):
        validate_cells(root, before, [Cell("new", ("archs=[rnn2]",))])


def out_of_reach(*args, **kwargs):
    raise StageError("cannot reach the Dask scheduler")


@contextmanager
def reachable(*args, **kwargs):
    yield object()


@pytest.mark.parametrize("cluster", [out_of_reach, reachable])
def test_a_wrong_value_is_refused_before_any_cell_runs(project, monkeypatch, cluster):
    """The cells are validated while the cluster starts: a wrong one is the error, whether or not it is reached."""
    monkeypatch.setattr(cli, "connect", cluster)
    monkeypatch.setattr(cli, "check_workers", lambda client, target: None)
    monkeypatch.setattr(cli, "run_cells", no_cluster)
    with pytest.raises(StageError, match=re.escape("'vocab_size' = 'abc'")):
        run_grid(project, "--prefix", "bad", "-S", "vocab_size=60,abc")


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_message_in_bounded_time(project):
    port = free_port()
    start = time.monotonic()
    scheduler = ["--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"]
    result = subprocess.run(
        [*GRID, "--prefix", "x", "-S", "split_seed=1", *scheduler],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and time.monotonic() - start < 60
    assert f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_project_without_a_dvc_remote_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "connect", no_cluster)
    root = make_grid_project(tmp_path, dvc_remote=False)
    with pytest.raises(StageError, match="no DVC remote is configured"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")


def test_uncommitted_changes_and_unpushed_commits_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "connect", no_cluster)
    root = make_grid_project(tmp_path)
    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace("hidden: 8", "hidden: 9"))
    with pytest.raises(StageError, match="uncommitted changes"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")
    run_command([*GIT_COMMIT, "-qam", "hidden 9"], root)
    with pytest.raises(StageError, match="is on no branch or tag of the git remote"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")


def test_no_git_repository_or_no_git_remote_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "connect", no_cluster)
    with pytest.raises(StageError, match="is not inside a git repository"):
        run_grid(tmp_path, "--prefix", "x")
    root = make_dvc_project(tmp_path)
    with pytest.raises(StageError, match="has no git remote"):
        run_grid(root, "--prefix", "x")


def test_a_worker_that_differs_or_misses_a_remote_is_named(project, tmp_path):
    git_url = str(project.parent / "origin.git")
    facts = preflight.worker_facts(git_url, str(tmp_path / "unmounted"), {})
    assert (
        facts["git remote"] is None and facts["DVC remote"] == f"the directory {tmp_path / 'unmounted'} does not exist"
    )
    here = preflight.driver_facts()
    assert {key: facts[key] for key in here} == here
    old_torch = facts | {"torch": "1.0.0", "DVC remote": None}
    with pytest.raises(StageError) as refused:
        preflight.check_facts({"tcp://a:1": facts, "tcp://b:2": old_torch}, here)
    message = str(refused.value)
    assert message.startswith("2 problems with the workers, found before any cell started")
    assert f"worker tcp://a:1 ({facts['host']}): cannot reach the DVC remote: the directory" in message
    assert f"worker tcp://b:2 ({facts['host']}): torch 1.0.0, here {here['torch']}" in message
    preflight.check_facts({"tcp://a:1": facts | {"DVC remote": None}}, here)  # a good worker passes


LOG = """$ git clone --quiet --no-checkout mirror repo
$ dvc exp run --pull -n g -S hidden=8
[     4.1] Reproducing experiment 'g'
[     5.2] Running stage 'download':
[     6.5] Updating lock file 'dvc.lock'
[     8.1] Running stage 'train@rnn-0':
[    16.4] rnn-0 epoch 1: train loss 0.7024 acc 0.4318 | val loss 0.7003 acc 0.5000 | 0.0 s
[    19.9] Updating lock file 'dvc.lock'
[    20.0] Stage 'evaluate@rnn-0' is cached - skipping run, checking out outputs
[    20.3] Running stage 'aggregate':
[    25.0] Updating lock file 'dvc.lock'
"""


def test_a_cells_overhead_is_its_time_outside_train_and_evaluate():
    assert stage_seconds(LOG) == {"download": 1.3, "train@rnn-0": 11.8, "aggregate": 4.7}
    result = {"name": "g", "status": LANDED, "reason": "", "log": LOG, "seconds": 30.0, "host": "h"}
    (record,) = rows([Cell("g", ("hidden=8",))], {"g": result}, {"g": {"metrics/summary.json:rnn.test_acc.mean": 0.5}})
    assert (record["train_eval_seconds"], record["overhead_seconds"]) == (11.8, 18.2)
    assert record["stage_seconds"] == {"download": 1.3, "train@rnn-0": 11.8, "aggregate": 4.7}


def test_progress_shows_each_change_in_a_log_and_a_table_in_a_terminal():
    out = io.StringIO()
    progress = Progress("g", ["a", "b"], out, live=False)
    for event in ({"host": "h1"}, {"stage": "train@rnn-0"}, {"stage": "train@rnn-0", "epoch": 1}):
        progress.on_event((0.0, {"cell": "a", "state": "running", **event}))
    progress.update()
    progress.beat -= HEARTBEAT_S  # a minute later: the counts, and where each running cell is
    progress.update()
    progress.finish({"name": "a", "status": LANDED, "seconds": 12.0})
    progress.finish({"name": "b", "status": FAILED, "reason": "dvc exp run failed"})
    lines = [line.split(maxsplit=2)[2] for line in out.getvalue().splitlines()]
    assert lines == [
        "a: running on h1",
        "a: train@rnn-0",
        "a: train@rnn-0, epoch 1",
        "1 queued, 1 running, 0 landed, 0 failed (a 0 s in train@rnn-0, epoch 1)",
        "[1/2] a: landed in 12 s",
        "[2/2] b: failed: dvc exp run failed",
    ]
    assert progress.counts() == "0 queued, 0 running, 1 landed, 1 failed"

    with Progress("g", ["a"], io.StringIO(), live=True) as shown:
        shown.on_event((0.0, {"cell": "a", "state": "running", "host": "h1"}))
        shown.on_event((0.0, {"cell": "a", "state": "running", "stage": "evaluate@rnn-0", "epoch": None}))
        shown.update()
        drawn = io.StringIO()
        Console(file=drawn, width=100).print(shown.live.renderable)
    assert "grid g: 0 queued, 1 running, 0 landed, 0 failed" in drawn.getvalue()
    assert re.search(r"│ a +│ h1 +│ 0 s +│ evaluate@rnn-0 +│", drawn.getvalue())


def test_the_supervisor_takes_its_command_group_down_when_the_worker_dies(tmp_path):
    scratch = tmp_path / "grid-cell-x"
    scratch.mkdir()
    # A stand-in worker starts the supervisor of a command that leaves a grandchild behind, then waits.
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, os, time; subprocess.Popen([sys.executable, '-c', open(sys.argv[1]).read(), "
            "str(os.getpid()), sys.argv[2] + '/log', sys.argv[2], str(time.time()), 'sh', '-c', 'sleep 300 & sleep 300'],"
            " cwd=sys.argv[2], start_new_session=True); time.sleep(300)",
            str(SUPERVISOR),
            str(scratch),
        ]
    )
    wait_until(lambda: len(sleeps(scratch)) == 2, 30, "the command never started")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    wait_until(lambda: not sleeps(scratch) and not scratch.exists(), 10, "the command outlived its worker")


def test_a_cells_commands_run_without_what_the_nanny_set_for_its_worker(monkeypatch):
    """The nanny's MALLOC_TRIM_THRESHOLD_ slowed the cells' trainings by 70% (docs/grid.md, Speed)."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as dask's distributed.nanny.pre-spawn-environ sets it
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("AWS_PROFILE", "grid")  # the worker's own environment reaches the commands
    env = command_env()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert (env["OMP_NUM_THREADS"], env["AWS_PROFILE"], env["GIT_TERMINAL_PROMPT"]) == ("1", "grid", "0")
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def sleeps(scratch: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        if (process.info["cwd"] or "").startswith(str(scratch)) and process.info["cmdline"][:1] == ["sleep"]:
            found.append(process)
    return found


def test_the_summary_is_written_beside_the_logs(tmp_path):
    records = [{"name": "a", "status": LANDED, "metrics": {"metrics/summary.json:rnn.test_acc.mean": 0.5}}]
    text = table(records, "test_acc.mean")
    write_summary(tmp_path, records, text)
    assert json.loads((tmp_path / "summary.json").read_text()) == records
    assert re.search(r"^a +landed +rnn=0\.5000", (tmp_path / "summary.txt").read_text(), re.M)
