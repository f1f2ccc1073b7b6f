"""python -m tools.grid on a tiny project, over loopback: a bare git remote, a directory DVC remote, 2 workers.

The tests share one project, one cluster (started as docs/grid.md starts one: `dask scheduler`,
`dask worker --nthreads 1`, outside the project, so the workers get the cells' code from the command)
and one scratch $TMPDIR, and run in file order; each runs the command as users do, in a subprocess.
Only the first trains; the later cells restore their training from the run cache. To hold a cell at
a known point, its data source is an HTTP server of the test that can hold a download until released.
"""

import http.server
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import chdir
from pathlib import Path

import psutil
import pytest
from conftest import GIT_COMMIT, TINY_MODEL, make_dvc_project, run_command, set_params
from distributed import Client, versions

from imdb_rnn import architectures
from imdb_rnn.core.common import StageError
from tools.grid import cli
from tools.grid.cell import command_env
from tools.grid.cli import plan_cells
from tools.grid.cluster import check_workers

GRID = [sys.executable, "-m", "tools.grid"]
TRAIN = "train@rnn-0"


def make_grid_project(base: Path, dvc_remote: bool = True) -> Path:
    """A tiny project (rnn, 1 epoch) with a bare git remote `origin` and, if asked, a directory DVC remote."""
    root = make_dvc_project(base, **TINY_MODEL | {"epochs": 1, "archs": ["rnn"]})
    run_command(["git", "init", "-q", "--bare", str(base / "origin.git")], root)
    run_command(["git", "remote", "add", "origin", str(base / "origin.git")], root)
    if dvc_remote:
        (base / "dvc-remote").mkdir()
        run_command(["dvc", "remote", "add", "-d", "storage", str(base / "dvc-remote")], root)
        run_command(["dvc", "remote", "add", "spare", str(base / "spare-remote")], root)
        run_command(["git", "add", ".dvc/config"], root)
        run_command([*GIT_COMMIT, "-qm", "DVC remotes"], root)
    run_command(["git", "push", "-q", "origin", "main"], root)
    return root


def source(*urls: str) -> str:
    """The -S option that makes each of `urls` the only data source, in turn (one cell each)."""
    return "data.sources=" + ",".join(f"[{{url:'{url}',md5:null}}]" for url in urls)


def sets(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("-S", value)]


def grid(root: Path, tmp: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command, its scratch clones and machine cache under `tmp`."""
    env = {**os.environ, "TMPDIR": str(tmp), **(env or {})}
    return subprocess.run([*GRID, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def start_grid(root: Path, tmp: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp), **(env or {})}
    return subprocess.Popen(
        [*GRID, *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def on_remote(root: Path, name: str) -> list[str]:
    return run_command(["git", "ls-remote", "origin", f"refs/exps/*/{name}"], root).stdout.splitlines()


def remote_summary(root: Path, name: str) -> dict:
    """metrics/summary.json of experiment `name` as the git remote has it."""
    (line,) = on_remote(root, name)
    run_command(["git", "fetch", "-q", "origin", line.split()[1]], root)
    return json.loads(run_command(["git", "show", "FETCH_HEAD:metrics/summary.json"], root).stdout)


def summary_row(output: str, name: str) -> str:
    (row,) = re.findall(rf"^{re.escape(name)} .*$", output, re.MULTILINE)
    return row


def scratch_clones(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("grid-cell-*"))


def cell_processes(tmp: Path) -> list[str]:
    """The working directories of the live processes of cells under `tmp` (each is in its scratch clone)."""
    cwds = (process.info["cwd"] or "" for process in psutil.process_iter(["cwd"]))
    return [cwd for cwd in cwds if cwd.startswith(str(tmp / "grid-cell-"))]


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


class ArchiveServer(http.server.ThreadingHTTPServer):
    """Serves the tiny archive at any path; holds the first `hold` downloads until release() (or the end)."""

    daemon_threads = True

    def __init__(self, archive: Path) -> None:
        super().__init__(("127.0.0.1", 0), ArchiveHandler)
        self.archive = archive.read_bytes()
        self.hold, self.arrived = 0, 0
        self.released = threading.Event()
        self.lock = threading.Lock()

    def url(self, tag: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{tag}/aclImdb_v1.tar.gz"

    def holding(self, hold: int) -> None:
        self.released.set()
        with self.lock:
            self.hold, self.arrived, self.released = hold, 0, threading.Event()

    def wait_for(self, downloads: int, seconds: float = 90) -> None:
        wait_until(lambda: self.arrived >= downloads, seconds, f"{downloads} downloads never started")


class ArchiveHandler(http.server.BaseHTTPRequestHandler):
    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.archive)))
        self.end_headers()

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        with self.server.lock:
            held, released = self.server.arrived < self.server.hold, self.server.released
            self.server.arrived += 1
        if held:
            released.wait(timeout=240)
        self._headers()
        self.wfile.write(self.server.archive)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grid")


@pytest.fixture(scope="module")
def project(base) -> Path:
    return make_grid_project(base)


@pytest.fixture(scope="module")
def tmp(base) -> Path:
    """The workers' and the command's $TMPDIR: their scratch clones and the machine's cache."""
    (base / "tmp").mkdir()
    return base / "tmp"


@pytest.fixture(scope="module")
def server(base, project):
    with ArchiveServer(base / "source" / "aclImdb_v1.tar.gz") as archive_server:
        thread = threading.Thread(target=archive_server.serve_forever, daemon=True)
        thread.start()
        yield archive_server
        archive_server.released.set()
        archive_server.shutdown()


@pytest.fixture(scope="module")
def client(base, tmp):
    """A scheduler and 2 single-threaded workers, on loopback, started outside the project (in `base`)."""
    dask, address = str(Path(sys.executable).parent / "dask"), ["--scheduler-file", str(base / "scheduler.json")]
    env = {**os.environ, "TMPDIR": str(tmp), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2"}
    with (base / "cluster.log").open("w") as log:
        processes = [
            subprocess.Popen(command, cwd=base, env=env, stdout=log, stderr=log)
            for command in (
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", *address],
                [dask, "worker", "--nworkers", "2", "--nthreads", "1", "--no-dashboard", *address],
            )
        ]
        try:
            with Client(scheduler_file=str(base / "scheduler.json"), timeout=60) as client:
                client.wait_for_workers(2, timeout=60)
                yield client
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)


def test_a_grid_lands_its_cells_retries_a_failed_clone_and_reports_a_failing_cell(project, tmp, base):
    sweep = [source(str(base / "source" / "aclImdb_v1.tar.gz"), "/missing/aclImdb_v1.tar.gz")]
    good, bad = plan_cells("g", sweep)
    hook = base / "flaky-pack"  # the first clone fails, as in an outage; git runs the hook in the remote
    # mkdir is atomic: of two cells cloning at once, exactly one makes the directory and fails
    hook.write_text(f'#!/bin/sh\nmkdir {base}/outage 2>/dev/null && exit 1\nexec "$@"\n')
    hook.chmod(0o755)
    origin = base / "origin.git"  # cloned over git's file:// transport, which runs the hook
    (base / "gitconfig").write_text(
        f'[uploadpack]\n\tpackObjectsHook = {hook}\n[url "file://{origin}"]\n\tinsteadOf = {origin}\n'
    )
    env = {"GIT_CONFIG_GLOBAL": str(base / "gitconfig")}
    result = grid(project, tmp, "--prefix", "g", *sets(sweep), "--workers", "2", "--logs", str(base / "logs"), env=env)
    output = result.stdout
    assert result.returncode == 1 and "1 of 2 cells failed" in result.stderr, output + result.stderr
    assert "LocalCluster: 2 workers" in output and "Traceback" not in output + result.stderr
    assert re.search(rf"^ +\d+ s  {good}: Running stage '{TRAIN}'", output, re.M)  # live progress

    logs = [(base / "logs" / f"{name}.log").read_text() for name in (good, bad)]
    assert sum("git clone --quiet --no-checkout" in log and "failed (try 1 of 3)" in log for log in logs) == 1
    assert f"Running stage '{TRAIN}'" in logs[0] and "landed" in logs[0].splitlines()[-1]
    accuracy = remote_summary(project, good)["rnn"]["best"]
    assert re.search(rf"landed +rnn={accuracy:.4f} ", summary_row(output, good))  # the remote ref's metrics
    assert good in run_command(["git", "for-each-ref", "refs/exps"], project).stdout  # pulled here
    assert "does not exist" in logs[1] and logs[1].count("$ dvc exp run") == 1  # a failing experiment: not retried
    assert re.search(rf"--- {bad} .*dvc exp run failed \(exit status \d+\)", output)
    assert not on_remote(project, bad)

    records = {record["name"]: record for record in json.loads((base / "logs" / "summary.json").read_text())}
    assert records[good]["status"] == "landed" and records[bad]["status"] == "failed"
    assert records[good]["metrics"] == {"rnn.best": accuracy} and records[good]["seconds"] > 0
    assert not scratch_clones(tmp) and not cell_processes(tmp)


def test_a_rerun_of_a_landed_cell_runs_nothing(project, tmp, base):
    sweep = [source(str(base / "source" / "aclImdb_v1.tar.gz"))]
    output = grid(project, tmp, "--prefix", "g", *sets(sweep)).stdout
    assert "1 cells from" in output and "1 already on the git remote" in output
    assert "LocalCluster" not in output and "$ git clone" not in output  # no cluster, no task
    assert re.search(r"already on the remote +rnn=0\.\d{4} ", summary_row(output, *plan_cells("g", sweep)))


def test_two_grids_with_the_same_cell_at_once_land_it_once_and_both_say_who(project, tmp, base, server, client):
    server.holding(2)  # both cells wait in their download until both have started: they run at once
    sweep = [source(server.url("twice"))]
    (name,) = plan_cells("twice", sweep)
    cluster = ["--scheduler", client.scheduler.address]
    drivers = [
        start_grid(project, tmp, "--prefix", "twice", *sets(sweep), *cluster, "--logs", str(base / f"twice{index}"))
        for index in range(2)
    ]
    server.wait_for(2)
    server.released.set()
    outputs = [driver.communicate(timeout=240)[0] for driver in drivers]
    assert [driver.returncode for driver in drivers] == [0, 0], outputs
    accuracy = remote_summary(project, name)["rnn"]["best"]
    rows = sorted(summary_row(output, name) for output in outputs)
    assert re.search(rf" landed +rnn={accuracy:.4f} ", rows[0]), rows  # both show the metrics of the remote's ref
    assert re.search(rf" landed by another run +rnn={accuracy:.4f} ", rows[1]), rows
    assert len(on_remote(project, name)) == 1
    for index in range(2):  # trained by the first test: restored from the run cache
        assert f"Stage '{TRAIN}' is cached - skipping run" in (base / f"twice{index}" / f"{name}.log").read_text()


def test_sigterm_to_the_driver_stops_its_running_cells_and_removes_their_clones(project, tmp, server, client):
    server.holding(2)
    sweep = [source(server.url("term0"), server.url("term1"))]
    driver = start_grid(project, tmp, "--prefix", "term", *sets(sweep), "--scheduler", client.scheduler.address)
    server.wait_for(2)  # both cells are in their download stage
    assert len(cell_processes(tmp)) >= 4  # per cell: its reaper, dvc exp run, the stage
    driver.send_signal(signal.SIGTERM)  # to its PID alone, not its process group
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 143 and "Traceback" not in stdout + stderr, stdout + stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted (SIGTERM): 2 running cells stopped"), stderr
    wait_until(lambda: not cell_processes(tmp) and not scratch_clones(tmp), 10, "a cell's process or clone is left")


def test_ctrl_c_stops_a_local_grid_and_leaves_nothing(project, tmp, server):
    server.holding(1)
    sweep = [source(server.url("ctrl-c"))]
    driver = start_grid(project, tmp, "--prefix", "ctrlc", *sets(sweep), "--workers", "1", start_new_session=True)
    server.wait_for(1)
    os.killpg(driver.pid, signal.SIGINT)  # as a terminal does: to the driver's process group, its local workers too
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130 and "Traceback" not in stdout + stderr, stdout + stderr
    assert "interrupted (SIGINT): 1 running cells stopped" in stderr, stderr
    wait_until(lambda: not cell_processes(tmp) and not scratch_clones(tmp), 10, "a cell's process or clone is left")


def test_a_cell_over_its_timeout_is_stopped_and_fails(project, tmp, server, client):
    server.holding(1)
    sweep = [source(server.url("timeout"))]
    options = ["--prefix", "slow", *sets(sweep), "--scheduler", client.scheduler.address, "--cell-timeout", "4"]
    result = grid(project, tmp, *options)
    assert result.returncode == 1 and "exceeded --cell-timeout (4 s)" in result.stdout, result.stdout + result.stderr
    assert not cell_processes(tmp) and not scratch_clones(tmp)


def test_a_killed_worker_leaves_no_process_and_its_cell_lands_once_elsewhere(project, tmp, server, client):
    server.holding(1)  # the first attempt waits in its download; the second gets the archive at once
    sweep = [source(server.url("killed"))]
    driver = start_grid(project, tmp, "--prefix", "killed", *sets(sweep), "--scheduler", client.scheduler.address)
    server.wait_for(1)
    (busy,) = [worker for worker, tasks in client.processing().items() if tasks]
    (attempt,) = scratch_clones(tmp)

    def in_attempt() -> list[str]:
        return [cwd for cwd in cell_processes(tmp) if cwd.startswith(str(attempt))]

    assert len(in_attempt()) >= 3  # its reaper, dvc exp run, the download stage
    os.kill(client.run(os.getpid, workers=[busy])[busy], signal.SIGKILL)
    wait_until(lambda: not in_attempt() and not attempt.exists(), 10, "its processes or its clone outlived it")
    stdout, stderr = driver.communicate(timeout=240)
    assert driver.returncode == 0, stdout + stderr
    (name,) = plan_cells("killed", sweep)
    assert re.search(r" landed ", summary_row(stdout, name)) and len(on_remote(project, name)) == 1
    # the grids so far left one copy of the cell's code for a joining worker (several at once corrupt its zip)
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert [plugin for plugin in plugins if "tools-grid-cell" in plugin] == ["tools-grid-cell.zip"], plugins


def test_a_dvc_remote_that_vanishes_fails_the_cell_and_is_not_created_again(project, tmp, base, server, client):
    spare = base / "spare-remote"
    spare.mkdir()
    server.holding(1)
    sweep = [source(server.url("vanished"))]
    options = ["--prefix", "vanished", *sets(sweep), "--dvc-remote", "spare", "--scheduler", client.scheduler.address]
    driver = start_grid(project, tmp, *options)
    server.wait_for(1)
    spare.rmdir()  # unmounted while the cell runs
    server.released.set()
    stdout, stderr = driver.communicate(timeout=240)
    assert driver.returncode == 1 and f"the DVC remote {spare} does not exist on" in stdout, stdout + stderr
    assert not spare.exists() and not on_remote(project, *plan_cells("vanished", sweep))


def test_workers_with_other_versions_or_without_a_remote_are_refused_before_any_cell(project, client, base):
    def older_dvc() -> None:
        real = versions.get_package_info
        versions.get_package_info = lambda pkgs: real(pkgs) | {"dvc": "1.0"}

    worker = sorted(client.scheduler_info()["workers"])[0]
    client.run(older_dvc, workers=[worker])
    target = {"git_url": str(base / "origin.git"), "dvc_url": str(base / "unmounted"), "options": {}}
    try:
        with pytest.raises(StageError) as refused:
            check_workers(client, target)
    finally:
        client.run(importlib.reload, versions, workers=[worker])
    message = str(refused.value)
    assert re.search(r"\| dvc +\| 3\.\d+\.\d+ .*1\.0", message), message  # Dask's own table of versions
    assert f"worker {worker}: the DVC remote {base / 'unmounted'} does not exist on" in message


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_message_in_bounded_time(project, tmp):
    port = free_port()
    start = time.monotonic()
    result = grid(
        project,
        tmp,
        "--prefix",
        "x",
        "-S",
        "seeds=[5]",
        "--scheduler",
        f"tcp://127.0.0.1:{port}",
        "--connect-timeout",
        "2",
    )
    assert result.returncode == 1 and time.monotonic() - start < 60
    assert f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def no_cluster(*args, **kwargs):
    raise AssertionError("the cluster was about to be reached, or a cell to run")


def run_grid(root: Path, *args: str) -> None:
    """The command in this process: a refusal comes before any cluster is reached."""
    with chdir(root):
        cli.main(list(args))


@pytest.mark.parametrize(
    "args, says",
    [
        (["--prefix", "a b"], "--prefix 'a b': use letters"),
        (["--prefix", "x", "--workers", "0"], "--workers and --attempts must be at least 1"),
        (["--prefix", "x", "--cell-timeout", "0"], "--cell-timeout and --connect-timeout must be positive"),
        (
            ["--prefix", "x", "--scheduler", "tcp://h:1", "--jobqueue", "j.yaml"],
            "--jobqueue: not allowed with argument --scheduler",
        ),
        (["--prefix", "x", "--jobqueue", "/no/jobqueue.yaml"], "--jobqueue: [Errno 2] No such file"),
        (["--prefix", "x", "--jobqueue", "/dev/null"], "--jobqueue: one batch system under 'jobqueue:'"),
    ],
)
def test_bad_options_are_refused_by_argparse(args, says, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(args)
    assert says in capsys.readouterr().err


def test_a_wrong_repository_remote_commit_or_sweep_is_refused_before_any_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "connect", no_cluster)
    with pytest.raises(StageError, match="is not a git \\+ DVC project"):
        run_grid(tmp_path, "--prefix", "x")
    root = make_grid_project(tmp_path, dvc_remote=False)
    for args, says in [
        (["-S", "hidden=[8,16"], "cannot parse the -S options"),
        (["--rev", "nosuch"], "--rev 'nosuch' is not a commit"),
        (["--git-remote", "upstream"], "there is no git remote 'upstream'"),
        ([], "no DVC remote (no default) (this project has none)"),
    ]:
        with pytest.raises(StageError, match=re.escape(says)):
            run_grid(root, "--prefix", "x", "-S", "hidden=8", *args)
    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace("hidden: 8", "hidden: 9"))
    with pytest.raises(StageError, match="uncommitted changes"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")
    run_command([*GIT_COMMIT, "-qam", "hidden 9"], root)
    with pytest.raises(StageError, match="is on no branch or tag of the git remote"):
        run_grid(root, "--prefix", "x", "-S", "hidden=8")


def test_a_bad_value_in_one_cell_refuses_every_cell_before_any_starts(project, monkeypatch):
    monkeypatch.setattr(cli, "connect", no_cluster)
    with pytest.raises(StageError) as refused:
        run_grid(project, "--prefix", "c6", "-S", "hidden=64,abc")
    message = str(refused.value)
    assert message.startswith("1 of 2 cells have params that their stages would refuse, so no cell was started")
    assert "c6-hidden_abc (-S hidden=abc):\n    'hidden' = 'abc': Input should be a valid integer" in message
    assert "c6-hidden_64" not in message


@pytest.mark.parametrize(
    "option, says",
    [
        ("archs=[rnn,foo]", f"'archs' = 'foo': unknown; choose from {', '.join(architectures.NAMES)}"),
        ("seeds=[0,-1]", "'seeds' = [0, -1]: a seed is a non-negative integer"),
        ("loss=nope", "'loss' = 'nope': unknown; choose from"),
        ("pooling=nope", "'pooling' = 'nope': unknown; choose from"),
        ("hidden='8'", "'hidden' = '8': Input should be a valid integer (this value is a quoted string"),
        ("hiden=8", "Invalid `--set-param` value: Could not override 'hiden'."),
    ],
)
def test_a_value_a_stage_refuses_is_named_with_its_cell_before_any_cell(project, monkeypatch, option, says):
    monkeypatch.setattr(cli, "connect", no_cluster)
    with pytest.raises(StageError, match=re.escape(f"x-{option.split('=')[0]}_")) as refused:
        run_grid(project, "--prefix", "x", "-S", option)
    assert says in str(refused.value)


def test_a_good_grid_is_checked_with_its_commits_params_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "connect", no_cluster)
    root = make_grid_project(tmp_path)
    set_params(root, loss="nope")
    run_command([*GIT_COMMIT, "-qam", "a loss no stage knows"], root)
    run_command(["git", "push", "-q", "origin", "main"], root)
    with pytest.raises(StageError, match=re.escape("x-hidden_16 (-S hidden=16):\n    'loss' = 'nope'")):
        run_grid(root, "--prefix", "x", "-S", "hidden=8,16")
    with pytest.raises(AssertionError, match="the cluster was about to be reached"):  # the commit before: good
        run_grid(root, "--prefix", "x", "-S", "hidden=8,16", "--rev", "HEAD~1")
    with (root / "stages" / "train.py").open("a") as code:
        code.write("# another train stage\n")
    run_command([*GIT_COMMIT, "-qam", "another train stage"], root)
    run_command(["git", "push", "-q", "origin", "main"], root)
    with pytest.raises(AssertionError, match="the cluster was about to be reached"):  # not its stages' code: unchecked
        run_grid(root, "--prefix", "x", "-S", "hidden=8,16", "--rev", "HEAD~1")
    assert "params not checked up front: the stages' code at " in capsys.readouterr().out


def test_cell_names_are_deterministic_ref_safe_and_list_values_are_one_value():
    cells = plan_cells("s", ["hidden=64,128", "archs=[rnn,gru]", "data.url=/a/very/long/path/to/aclImdb_v1.tar.gz"])
    assert [overrides[:2] for overrides in cells.values()] == [
        ["hidden=64", "archs=[rnn,gru]"],
        ["hidden=128", "archs=[rnn,gru]"],
    ]
    first = next(iter(cells))
    assert first.startswith("s-hidden_64-archs_rnn-gru-data.url_") and len(first) < 60
    assert list(plan_cells("s", ["seeds=[0],[1]"])) == ["s-seeds_0", "s-seeds_1"]


def test_a_cells_commands_run_without_what_the_nanny_set_for_its_worker(monkeypatch):
    """The nanny's MALLOC_TRIM_THRESHOLD_ slowed the cells' trainings by 70% (docs/grid.md)."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as dask's distributed.nanny.pre-spawn-environ sets it
    monkeypatch.setenv("AWS_PROFILE", "grid")  # the worker's own environment reaches the commands
    env = command_env()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert (env["OMP_NUM_THREADS"], env["AWS_PROFILE"], env["GIT_TERMINAL_PROMPT"]) == ("1", "grid", "0")
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB file system (tmpfs): the workers' $TMPDIR, to fill."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN): the full-disk test runs in CI as root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_is_named_at_the_start_and_when_it_fills_during_a_cell(project, small_disk, base):
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (47 * 2**20))  # full before the grid starts
    result = grid(project, small_disk, "--prefix", "full", "-S", "seeds=[7]")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stderr.startswith(f"error: no space left on the disk of {small_disk} (")
    ballast.unlink()
    big = base / "big" / "aclImdb_v1.tar.gz"  # larger than the disk: its download fills it
    big.parent.mkdir()
    big.write_bytes(os.urandom(64 * 2**20))
    result = grid(project, small_disk, "--prefix", "fills", *sets([source(str(big))]), "--workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stdout
    assert re.search(r"dvc exp run failed \(exit status \d+\): no space left on the disk of ", result.stdout)
