"""python -m tools.grid on a tiny project, over loopback: a bare git remote, a directory DVC remote, 2 workers.

The grid tests share one project and one cluster and run in file order: a 2 x 2 grid, its rerun and a
cell restored from the run cache, a grid with a failing cell, a grid whose worker is killed. They run
the command as users do, in a subprocess. Then the pre-flight refusals, which must come before any task.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import chdir
from pathlib import Path

import pytest
import yaml
from conftest import GIT_COMMIT, TINY_MODEL, make_dvc_project, run_command
from distributed import Client

from imdb_rnn.common import StageError
from tools import grid

# One seed per cell, the natural way to spread a seeds study (a comma inside brackets separates nothing).
SEED, SEED_VALUES = "seeds", "[0],[1]"
SETS = ["hidden=8,16", f"{SEED}={SEED_VALUES}"]
FIRST_CELL = ["hidden=8", f"{SEED}={SEED_VALUES.split(',')[0]}"]  # the first cell of SETS
TRAIN_LOG = "metrics/train/rnn-0"  # train@rnn-0's dvclive directory: its epoch timings differ in every run
GRID = [sys.executable, "-m", "tools.grid"]


def make_grid_project(base: Path, dvc_remote: bool = True) -> Path:
    """A tiny project (rnn, 1 epoch) with a bare git remote `origin` and, if asked, a directory DVC remote."""
    root = make_dvc_project(base, **TINY_MODEL | {"epochs": 1, "archs": ["rnn"]})
    run_command(["git", "init", "-q", "--bare", str(base / "origin.git")], root)
    run_command(["git", "remote", "add", "origin", str(base / "origin.git")], root)
    if dvc_remote:
        run_command(["dvc", "remote", "add", "-d", "storage", str(base / "dvc-remote")], root)
        run_command(["git", "add", ".dvc/config"], root)
        run_command([*GIT_COMMIT, "-qm", "a DVC remote"], root)
    run_command(["git", "push", "-q", "origin", "main"], root)
    return root


def sets(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("-S", value)]


def experiments(root: Path) -> dict[str, dict]:
    """`dvc exp show --json` of the project: {experiment name: its data (params, metrics)}."""
    shown = json.loads(run_command(["dvc", "exp", "show", "--json"], root).stdout)
    return {
        experiment["name"]: experiment["revs"][0]["data"]
        for commit in shown
        for experiment in commit.get("experiments") or []
    }


def locked_output(root: Path, name: str, path: str) -> str:
    """The hash that experiment `name`'s dvc.lock records for output `path`."""
    refs = run_command(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], root).stdout.split()
    (ref,) = [ref for ref in refs if ref.endswith(f"/{name}")]
    lock = yaml.safe_load(run_command(["git", "show", f"{ref}:dvc.lock"], root).stdout)
    return next(out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", []) if out["path"] == path)


def on_remote(root: Path, name: str) -> list[str]:
    return run_command(["git", "ls-remote", "origin", f"refs/exps/*/{name}"], root).stdout.splitlines()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_grid_project(tmp_path_factory.mktemp("grid"))


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def client(cluster_dir):
    """A cluster as docs/grid.md starts one per machine, on loopback: `dask scheduler`, `dask worker --nthreads 1`.

    Started outside the project, so the workers cannot import stages/: they run what the driver sends.
    Their scratch clones go under pytest's temporary directory (TMPDIR), their logs to cluster.log.
    """
    dask, address = str(Path(sys.executable).parent / "dask"), ["--scheduler-file", str(cluster_dir / "scheduler.json")]
    env = {**os.environ, "TMPDIR": str(cluster_dir), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2"}
    with (cluster_dir / "cluster.log").open("w") as log:
        processes = [
            subprocess.Popen(command, cwd=cluster_dir, env=env, stdout=log, stderr=log)
            for command in (
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", *address],
                [dask, "worker", "--nworkers", "2", "--nthreads", "1", "--no-dashboard", *address],
            )
        ]
        try:
            with Client(scheduler_file=str(cluster_dir / "scheduler.json"), timeout=60) as client:
                client.wait_for_workers(2, timeout=60)
                yield client
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)


def test_a_grid_lands_every_cell_as_an_experiment_with_its_metrics(project):
    output = run_command([*GRID, "--prefix", "g", *sets(SETS), "--workers", "2"], project).stdout  # a local cluster
    cells = grid.plan_cells("g", SETS)
    assert len(cells) == 4 and "local cluster: 2 single-threaded workers" in output and "[4/4]" in output
    shown = experiments(project)
    for cell in cells:
        params = shown[cell.name]["params"]["params.yaml"]["data"]
        assert [f"{key}={json.dumps(params[key])}" for key in ("hidden", SEED)] == list(cell.overrides)
        assert 0 <= shown[cell.name]["metrics"]["metrics/summary.json"]["data"]["rnn"]["test_acc"]["mean"] <= 1
        assert re.search(rf"^{re.escape(cell.name)} +ok ", output, re.MULTILINE)  # its row of the summary
        assert len(on_remote(project, cell.name)) == 1


def test_a_rerun_runs_nothing_and_a_repeated_cell_is_restored_from_the_run_cache(project, client):
    cluster = ["--scheduler", client.scheduler.address]
    output = run_command([*GRID, "--prefix", "g", *sets(SETS), *cluster], project).stdout
    assert "4 cells from" in output and "4 already on the git remote" in output
    assert "[1/" not in output  # no task ran
    assert output.count("already on the remote") == 4

    # The first cell's params under another name, on a worker: its training is restored, not rerun.
    run_command([*GRID, "--prefix", "again", *sets(FIRST_CELL), *cluster], project)
    again, first = (
        locked_output(project, grid.cell_name(prefix, tuple(FIRST_CELL)), TRAIN_LOG) for prefix in ("again", "g")
    )
    assert again == first  # the same epoch timings to the microsecond: restored, not retrained


def test_a_failing_cell_is_reported_with_its_log_while_the_others_land(project, client):
    url = yaml.safe_load((project / "params.yaml").read_text())["data"]["url"]
    sweep = [f"data.url={url},/missing/aclImdb_v1.tar.gz", "hidden=8"]  # the missing archive fails at download
    command = [*GRID, "--prefix", "f", *sets(sweep), "--scheduler", client.scheduler.address]
    result = run_command(command, project, check=False)
    assert result.returncode == 1 and "1 of 2 cells failed" in result.stderr
    assert "does not exist" in result.stdout  # the download stage's message, from the failed cell's log
    good, bad = (cell.name for cell in grid.plan_cells("f", sweep))
    assert good in experiments(project) and on_remote(project, good)
    assert not on_remote(project, bad)


def test_a_cell_whose_worker_is_killed_runs_again_elsewhere_and_lands_once(project, client, cluster_dir):
    command = [*GRID, "--prefix", "k", "-S", "hidden=16", "--scheduler", client.scheduler.address]
    driver = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (busy := [worker for worker, tasks in client.processing().items() if tasks]):
        assert time.monotonic() < deadline and driver.poll() is None, "the cell never started"
        time.sleep(0.1)
    time.sleep(1)  # let it get going: the clone, dvc exp run
    os.kill(client.run(os.getpid, workers=busy)[busy[0]], signal.SIGKILL)
    output, _ = driver.communicate(timeout=180)
    assert driver.returncode == 0, output
    name = grid.cell_name("k", ("hidden=16",))
    assert len(on_remote(project, name)) == 1 and name in experiments(project)
    assert len(list(cluster_dir.glob("grid-*"))) == 1  # the killed attempt's scratch clone: it died mid-cell


def no_cluster(*args, **kwargs):
    raise AssertionError("a task was about to run")


def run_grid(root: Path, *args: str) -> None:
    """The command in this process, for the pre-flight refusals: no cluster is reached."""
    with chdir(root):
        grid.main(list(args))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("hiden=8,16", "Could not override 'hiden'"),  # an unknown key
        ("data.uri=x", "Could not override 'data.uri'"),
        ("hidden=8,abc", "'hidden' = 'abc'"),  # a wrong type, in the second cell
        ("loss=foo", "'loss' = 'foo'"),
        ("hidden=[8,16", "cannot parse the -S options"),
    ],
)
def test_a_wrong_value_is_refused_before_any_task(project, monkeypatch, option, message):
    monkeypatch.setattr(grid, "connect", no_cluster)
    with pytest.raises(StageError, match=re.escape(message)):
        run_grid(project, "--prefix", "bad", "-S", option)


def test_a_project_without_a_dvc_remote_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "connect", no_cluster)
    root = make_grid_project(tmp_path, dvc_remote=False)
    with pytest.raises(StageError, match="no DVC remote is configured"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")


def test_uncommitted_changes_and_unpushed_commits_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "connect", no_cluster)
    root = make_grid_project(tmp_path)
    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace("hidden: 8", "hidden: 9"))
    with pytest.raises(StageError, match="uncommitted changes"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")
    run_command([*GIT_COMMIT, "-qam", "hidden 9"], root)
    with pytest.raises(StageError, match="is on no branch or tag of the git remote"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")


def test_no_git_repository_or_no_git_remote_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "connect", no_cluster)
    with pytest.raises(StageError, match="is not inside a git repository"):
        run_grid(tmp_path, "--prefix", "x")
    root = make_dvc_project(tmp_path)
    with pytest.raises(StageError, match="has no git remote"):
        run_grid(root, "--prefix", "x")


def test_cell_names_are_deterministic_ref_safe_and_list_values_are_one_value():
    cells = grid.plan_cells(
        "s", ["hidden=64,128", "archs=[rnn,gru]", "data.url=/a/very/long/path/to/aclImdb_v1.tar.gz"]
    )
    assert [cell.overrides[:2] for cell in cells] == [
        ("hidden=64", "archs=[rnn,gru]"),
        ("hidden=128", "archs=[rnn,gru]"),
    ]
    assert cells[0].name.startswith("s-hidden_64-archs_rnn-gru-data.url_") and len(cells[0].name) < 60
    assert [cell.name for cell in grid.plan_cells("s", ["seeds=[0],[1]"])] == ["s-seeds_0", "s-seeds_1"]
    assert grid.plan_cells("s", ["hidden=64,128"]) == grid.plan_cells("s", ["hidden=64,128"])
