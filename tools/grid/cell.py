"""One cell of the grid, on a worker: run its experiment and land it on the remotes, or fail it cleanly.

A cell (run_cell, one Dask task):
1. reports `landed by another run` at once if its experiment is already on the git remote;
2. checks that the DVC remote exists, if it is a directory (a local or shared-file-system path):
   a missing one fails the cell instead of being created, so data never lands on one worker's disk;
3. gets the commit from the machine's mirror of the git remote (cloned once, then updated with
   `git fetch` when it lacks the commit), into a scratch clone under $TMPDIR (`grid-cell-<name>-*`);
4. runs `dvc exp run --pull -n <name> -S ...` there, with the machine's DVC cache (shared by every cell
   of every worker of the machine, so inputs are pulled, and run-cache hits restored, once per machine);
5. checks the DVC remote again, pushes the outputs and run cache (`dvc push --run-cache`), then the
   experiment's ref (tools/grid/landing.py: `landed`, or `landed by another run`).

Each command runs under tools/grid/supervisor.py, in a process group of its own that dies with the cell:
on --cell-timeout, on the grid's cancellation (the driver's SIGINT or SIGTERM, or the driver gone), and
with the worker. Clone, fetch and push are retried with backoff; a failing `dvc exp run` is not (it is
the experiment's failure, not a transient one). The scratch clone is removed in every case.

These functions run on workers that have the project's Python environment but maybe no checkout: the
driver sends them by value (tools/grid/cluster.py). So they use nothing of imdb_rnn, and compute what
they need to know about the machine (paths, PIDs, environment) when they run, not at import.
"""

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dask.config
import psutil
from distributed import get_worker

from tools.grid.landing import (
    BY_ANOTHER,
    FAILED,
    INTERRUPTED,
    GitRemoteError,
    exp_ref,
    git_env,
    landing,
    ls_remote,
    pushed,
)
from tools.grid.plan import Cell
from tools.grid.preflight import Target, local_remote_path

SUPERVISOR = Path(__file__).with_name("supervisor.py").read_text()  # read on the driver, sent as text
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
POLL_S = 0.5  # how often a running cell checks its deadline, its cancellation and its log
EXIT_POLL_S = 0.02  # how often it looks whether its command ended: a cell runs six, one after another
STOP_WAIT_S = 15.0  # the supervisor's grace period (5 s) and more, before its group is given up on
CACHE_LINKS = "reflink,hardlink,copy"  # outputs linked from the machine's cache, not copied
RUNNING_STAGE = re.compile(r"Running stage '([^']+)'")
EPOCH = re.compile(r" epoch (\d+):")

Result = TypeVar("Result")


@dataclass(frozen=True)
class Options:
    """How every cell of one grid run behaves."""

    cell_timeout: float  # seconds, from the cell's start to its ref on the remote
    attempts: int  # tries of a transient command: clone, fetch, push
    backoff: float  # seconds before the second try, doubled before each next one
    topic: str  # the Dask event topic of this grid run's progress


class CellFailed(Exception):
    """The cell failed: the message says what, where and what to do."""


class Stopped(Exception):
    """The cell was stopped from outside its commands: `status` is FAILED (its timeout) or INTERRUPTED."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def machine_dir() -> Path:
    """What the cells of this machine share: the git mirrors and the DVC cache."""
    return Path(tempfile.gettempdir()) / f"grid-cache-{os.getuid()}"


class Watch:
    """The cell's deadline, its cancellation and its progress reports, checked while its commands run.

    Dask cannot interrupt a running task: the cell itself polls the worker's state of its task, which
    turns `cancelled` when the driver cancels the grid or goes away.
    """

    def __init__(self, cell: Cell, options: Options) -> None:
        self.worker = get_worker()
        self.key = self.worker.get_current_task()
        self.cell, self.options = cell, options
        self.started = time.time()
        self.doing = "the start"
        self.peak_mib = 0.0
        self.activity: dict[str, str | int] = {}
        self.read = 0  # how much of the log has been read for the activity

    def publish(self, state: str, **details: object) -> None:
        self.worker.log_event(self.options.topic, {"cell": self.cell.name, "state": state, **details})

    def check(self, log: Path) -> None:
        """Raise Stopped on timeout or cancellation; publish the current stage and epoch when they change."""
        if time.time() - self.started > self.options.cell_timeout:
            raise Stopped(
                FAILED,
                f"exceeded --cell-timeout ({self.options.cell_timeout:g} s) during {self.doing}, and was stopped: "
                "raise --cell-timeout if the cell needs longer, or see its log for where it hung.",
            )
        task = self.worker.state.tasks.get(self.key)
        if task is None or task.state == "cancelled":
            raise Stopped(INTERRUPTED, "the grid was cancelled")
        activity = dict(self.activity)
        if log.exists():
            with log.open("rb") as text:
                text.seek(self.read)
                new = text.read()
            lines = new[: new.rfind(b"\n") + 1]  # whole lines only: the rest is read next time
            self.read += len(lines)
            for line in lines.decode(errors="replace").splitlines():
                if stage := RUNNING_STAGE.search(line):
                    activity = {"stage": stage[1]}
                elif epoch := EPOCH.search(line):
                    activity["epoch"] = int(epoch[1])
        if activity != self.activity:
            self.activity = activity
            self.publish("running", **activity)

    def sleep(self, seconds: float, log: Path) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check(log)
            time.sleep(POLL_S)


def command_env() -> dict[str, str]:
    """The environment of a cell's commands: the worker's, less what Dask's nanny sets for its worker process
    alone, with one thread each (a worker runs one cell per thread) and this Python first on PATH.

    The nanny's MALLOC_TRIM_THRESHOLD_=65536 hands freed memory back to the system at once: the cells'
    trainings that inherited it took 1.7 times as long per epoch (docs/grid.md, Speed).
    """
    nanny_only = dask.config.get("distributed.nanny.pre-spawn-environ", {})
    inherited = {key: value for key, value in git_env().items() if key not in nanny_only}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**inherited, **ONE_THREAD, "PATH": path, "DVC_NO_ANALYTICS": "1"}


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]  # the worker's own Python: evaluated there


def _note(log: Path, text: str, watch: Watch) -> None:
    """A line of the cell's own in its log, prefixed with the seconds since the cell started, as its commands' lines."""
    with log.open("a") as out:
        out.write(f"[{time.time() - watch.started:8.1f}] {text}\n")


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    return lines[-1].strip() if lines else "no output"


def _run(command: list[str], cwd: Path, scratch: Path, watch: Watch) -> int:
    """Run `command` under the supervisor, its output appended to the log; its exit status.

    Stops it (and everything it started) if the cell times out or is cancelled, and raises Stopped.
    """
    log = scratch / "log"
    watch.doing = shlex.join(command[2:] if command[0] == sys.executable else command)
    _note(log, f"$ {watch.doing}", watch)
    with log.open("a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(os.getpid()), str(log), str(scratch), str(watch.started), *command],
            cwd=cwd,
            env=command_env(),
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=errors,
            start_new_session=True,  # a terminal's Ctrl-C does not reach it: the cell stops it
        )
    try:
        next_check = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)  # its usage, its children's included
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                watch.peak_mib = max(watch.peak_mib, usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10))
                return process.returncode
            if time.monotonic() >= next_check:
                watch.check(log)
                next_check = time.monotonic() + POLL_S
            time.sleep(EXIT_POLL_S)
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the supervisor, which takes its command's group down; SIGKILL if it does not end in time."""
    process.terminate()
    try:
        process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _retrying(what: str, attempt: Callable[[], Result | None], scratch: Path, watch: Watch) -> Result | None:
    """attempt() until it gives a value, with backoff between tries; None after the last try."""
    delay = watch.options.backoff
    for number in range(1, watch.options.attempts + 1):
        outcome = attempt()
        if outcome is not None:
            return outcome
        if number < watch.options.attempts:
            _note(
                scratch / "log",
                f"{what} failed (try {number} of {watch.options.attempts}); again in {delay:g} s",
                watch,
            )
            watch.sleep(delay, scratch / "log")
            delay *= 2
    return None


def _remote_commit(target: Target, ref: str, scratch: Path, watch: Watch) -> str | None:
    """The commit of `ref` on the git remote, or None; CellFailed if the remote cannot be read."""

    def attempt() -> dict[str, str] | None:
        try:
            return ls_remote(target.git_url, ref)
        except GitRemoteError as error:
            _note(scratch / "log", str(error), watch)
            return None

    refs = _retrying(f"git ls-remote {target.git_url}", attempt, scratch, watch)
    if refs is None:
        raise CellFailed(_unreachable_git(target, scratch, "read"))
    return refs.get(ref)


def _unreachable_git(target: Target, scratch: Path, action: str) -> str:
    return (
        f"could not {action} the git remote {target.git_url} from {socket.gethostname()} "
        f"({_last_line(scratch / 'log')}). Check that this worker reaches it and has credentials for it "
        f"(git ls-remote {target.git_url} there), then rerun the grid."
    )


def require_dvc_remote(url: str) -> None:
    """CellFailed if the DVC remote is a directory that does not exist here (DVC would create it)."""
    directory = local_remote_path(url)
    if directory is not None and not directory.is_dir():
        raise CellFailed(
            f"the DVC remote {url} does not exist on {socket.gethostname()}. A directory remote must exist before "
            "a cell pushes to it (the grid does not create it, so that no data lands on one worker's local disk): "
            "mount the shared file system there, or create the directory, then rerun the grid."
        )


@contextmanager
def _machine_lock(path: Path, scratch: Path, watch: Watch) -> Iterator[None]:
    """An exclusive lock shared by the cells of this machine, waited for under the cell's watch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                watch.check(scratch / "log")
                time.sleep(POLL_S)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _has_commit(repository: Path, sha: str) -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repository, capture_output=True)
    return found.returncode == 0


def _clone(target: Target, scratch: Path, watch: Watch) -> Path:
    """A scratch clone at the cell's commit, from the machine's mirror of the git remote (updated if it lacks it)."""
    mirror = machine_dir() / "git" / f"{hashlib.sha1(target.git_url.encode()).hexdigest()[:16]}.git"

    def succeeded(command: list[str], cwd: Path) -> bool | None:
        return True if _run(command, cwd, scratch, watch) == 0 else None

    with _machine_lock(mirror.with_suffix(".lock"), scratch, watch):
        if not mirror.is_dir():
            partial = mirror.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            clone = ["git", "clone", "--quiet", "--bare", target.git_url, str(partial)]
            if not _retrying("git clone", lambda: succeeded(clone, mirror.parent), scratch, watch):
                raise CellFailed(_unreachable_git(target, scratch, "clone"))
            partial.rename(mirror)
        if not _has_commit(mirror, target.sha):
            fetch = ["git", "fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"]
            if not _retrying(
                "git fetch", lambda: succeeded([*fetch, "+refs/tags/*:refs/tags/*"], mirror), scratch, watch
            ):
                raise CellFailed(_unreachable_git(target, scratch, "fetch from"))
        if not _has_commit(mirror, target.sha):
            raise CellFailed(f"commit {target.sha[:7]} is not on the git remote {target.git_url}: push it, then rerun.")
        if _run(["git", "clone", "--quiet", "--no-checkout", str(mirror), "repo"], scratch, scratch, watch) != 0:
            raise CellFailed(f"could not clone the machine's mirror {mirror}: {_last_line(scratch / 'log')}")
    repo = scratch / "repo"
    for command in (["git", "remote", "set-url", "origin", target.git_url], ["git", "checkout", "-q", target.sha]):
        if _run(command, repo, scratch, watch) != 0:
            raise CellFailed(f"{shlex.join(command)} failed in the scratch clone: {_last_line(scratch / 'log')}")
    _configure_dvc(repo, target)
    return repo


def _configure_dvc(repo: Path, target: Target) -> None:
    """The clone's own config (.dvc/config.local): the grid's DVC remote as default, the machine's cache."""
    from dvc.config import Config

    with Config(dvc_dir=str(repo / ".dvc")).edit("local") as local:
        local["core"] = {**local.get("core", {}), "remote": target.dvc_remote}
        local["remote"] = {**local.get("remote", {}), target.dvc_remote: {"url": target.dvc_url}}
        local["cache"] = {"dir": str(machine_dir() / "dvc-cache"), "type": CACHE_LINKS}


def _land(cell: Cell, target: Target, scratch: Path, watch: Watch) -> str:
    """Run the cell's experiment and push it; its status (LANDED or BY_ANOTHER), or CellFailed."""
    ref = exp_ref(target.sha, cell.name)
    if _remote_commit(target, ref, scratch, watch) is not None:
        return BY_ANOTHER
    require_dvc_remote(target.dvc_url)
    repo = _clone(target, scratch, watch)
    sets = [arg for override in cell.overrides for arg in ("-S", override)]
    status = _run(_dvc("exp", "run", "--pull", "-n", cell.name, *sets), repo, scratch, watch)
    if status != 0:
        raise CellFailed(f"dvc exp run failed (exit status {status}): the experiment itself failed; see its log.")
    if _remote_commit(target, ref, scratch, watch) is not None:
        return BY_ANOTHER
    require_dvc_remote(target.dvc_url)
    push = _dvc("push", "--run-cache")
    if not _retrying("dvc push", lambda: True if _run(push, repo, scratch, watch) == 0 else None, scratch, watch):
        raise CellFailed(
            f"could not push to the DVC remote {target.dvc_url} from {socket.gethostname()} "
            f"({_last_line(scratch / 'log')}). Check that this worker can write to it (space, permissions, "
            "credentials), then rerun the grid: the experiment was not pushed, so the rerun runs this cell again."
        )
    own = subprocess.run(["git", "rev-parse", ref], cwd=repo, capture_output=True, text=True).stdout.strip()

    def push_ref() -> str | None:
        log = scratch / "log"
        before = log.stat().st_size
        _run(["git", "push", "--porcelain", "origin", f"{ref}:{ref}"], repo, scratch, watch)
        if said := pushed(log.read_bytes()[before:].decode(errors="replace"), ref):
            return said
        try:  # refused, or no answer: who has the ref now?
            return landing(target.git_url, ref, own)
        except GitRemoteError as error:
            _note(log, str(error), watch)
            return None

    landed = _retrying("git push", push_ref, scratch, watch)
    if landed is None:
        raise CellFailed(_unreachable_git(target, scratch, "push the experiment's ref to"))
    return landed


def run_cell(cell: Cell, target: Target, options: Options) -> dict:
    """Run one cell and land it; its status, the reason if it did not land, its full log, time, peak RSS, host."""
    watch = Watch(cell, options)
    host = socket.gethostname()
    watch.publish("running", host=host)
    scratch = Path(tempfile.mkdtemp(prefix=f"grid-cell-{cell.name}-"))
    reason = ""
    try:
        status = _land(cell, target, scratch, watch)
    except CellFailed as failure:
        status, reason = FAILED, str(failure)
    except Stopped as stop:
        status, reason = stop.status, str(stop)
    finally:
        log = (scratch / "log").read_text(errors="replace") if (scratch / "log").exists() else ""
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.time() - watch.started
    watch.publish(status, reason=reason, seconds=seconds)
    return {
        "name": cell.name,
        "status": status,
        "reason": reason,
        "log": log,
        "seconds": seconds,
        "peak_rss_mib": watch.peak_mib,
        "worker_rss_mib": psutil.Process().memory_info().rss / 2**20,
        "host": host,
    }
