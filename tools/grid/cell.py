"""One cell of the grid, on a worker: clone, `dvc exp run`, push; or fail with the reason in one line.

Uploaded to the workers (tools/grid/cluster.py) with imdb_rnn/experiments/processes.py, the one module of the
project it imports. A cell's commands share a process group led by a reaper that gets SIGTERM when the task's
thread dies (a worker killed with SIGKILL, a cancelled SLURM job) and then kills the group and removes the
clone; otherwise the cell does it, after stopping its running command as Ctrl-C would (processes.stop).
"""

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import dask.config
from distributed import get_worker
from dvc.config import Config
from dvc.fs import get_cloud_fs

from imdb_rnn.experiments.processes import stop

LANDED, BY_ANOTHER, FAILED, INTERRUPTED = "landed", "landed by another run", "failed", "interrupted"
POLL_S = 0.2  # how often a running command's output is forwarded and its cell's deadline checked
BACKOFF_S = 2.0  # before the second try of a clone or push, doubled before each next one
NO_SPACE_BYTES = 32 * 2**20  # a failed command on a disk with less free is said to have run out of space
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1"}
PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: a forked child must not load libraries
PR_SET_PDEATHSIG = 1
MACHINE_DIR = Path(tempfile.gettempdir()) / f"grid-cache-{os.getuid()}"  # the DVC cache of this machine's cells
REAPER = """import os, shutil, signal, sys, time
def reap(*_):
    if os.fork() == 0:  # the child leaves the group, kills it (the reaper too), then removes the clone
        group = os.getpgid(0)
        os.setpgid(0, 0)
        os.killpg(group, signal.SIGKILL)
        time.sleep(0.2)
        shutil.rmtree(sys.argv[1], ignore_errors=True)
    os._exit(0)
signal.signal(signal.SIGTERM, reap)
if os.getppid() != int(sys.argv[2]):  # its worker died before the parent-death signal was set
    reap()
while True:
    signal.pause()
"""


def default_sigint() -> None:
    """In a command's child before it runs: SIGINT's default action, which `stop` relies on. A local worker ignores
    SIGINT (tools/grid/cluster.py: a terminal's Ctrl-C is the driver's to handle), and its commands would too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CellFailed(Exception):
    def __init__(self, reason: str, status: str = FAILED) -> None:
        super().__init__(reason)
        self.status = status


def command_env() -> dict[str, str]:
    """The worker's environment less what Dask's nanny set for the worker alone (its MALLOC_TRIM_THRESHOLD_
    slowed the trainings 1.7 times: docs/grid.md), one thread per command, this Python first on PATH."""
    nanny_only = dask.config.get("distributed.nanny.pre-spawn-environ", {})
    inherited = {key: value for key, value in os.environ.items() if key not in nanny_only}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**inherited, **GIT_ENV, **ONE_THREAD, "PATH": path}


def dvc_remote_problem(url: str, options: dict) -> str | None:
    """Why this machine cannot use the DVC remote at `url`, or None. A directory must exist (DVC would
    create it, and the data would land on one machine's own disk)."""
    if url.startswith("file://") or "://" not in url:
        directory = Path(url.removeprefix("file://"))
        if not directory.is_dir():
            return f"the DVC remote {url} does not exist on {socket.gethostname()}"
        return None if os.access(directory, os.W_OK) else f"the DVC remote {url} is not writable"
    try:
        cls, config, path = get_cloud_fs({"remote": {"grid": {"url": url, **options}}}, name="grid")
        return None if cls(**config).exists(path) else f"the DVC remote {url} does not exist"
    except Exception as error:  # any backend's error (credentials, network) is the answer
        return f"cannot reach the DVC remote {url}: {type(error).__name__}: {error}"


def reach(git_url: str, dvc_url: str, options: dict) -> str | None:
    """Run on every worker before any cell: why it cannot reach either remote, or None."""
    try:
        listed = subprocess.run(["git", "ls-remote", git_url, "HEAD"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"git ls-remote {git_url}: {error}"
    if listed.returncode != 0:
        return f"cannot read the git remote {git_url}: {listed.stderr.strip()}"
    return dvc_remote_problem(dvc_url, options)


class Cell:
    """A cell's run on this worker: its scratch clone, its process group, its log (streamed to the driver)."""

    def __init__(self, name: str, timeout: float, attempts: int, topic: str) -> None:
        self.worker = get_worker()
        self.key = self.worker.get_current_task()
        self.name, self.timeout, self.attempts, self.topic = name, timeout, attempts, topic
        self.started = time.time()
        self.output, self.doing = "", "the start"
        self.scratch = Path(tempfile.mkdtemp(prefix=f"grid-cell-{name}-"))
        self.reaper = subprocess.Popen(
            [sys.executable, "-c", REAPER, str(self.scratch), str(os.getpid())],
            cwd=self.scratch,
            stdin=subprocess.DEVNULL,
            process_group=0,  # a group of its own: a terminal's Ctrl-C does not reach the commands
            preexec_fn=lambda: PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM),  # SIGTERM when the task's thread dies
        )

    def add(self, lines: list[str], ended: bool = False) -> None:
        """Lines of the cell's log, each stamped with the seconds since the cell started, sent to the driver."""
        stamped = [f"[{time.time() - self.started:8.1f}] {line}" for line in lines]
        self.worker.log_event(self.topic, {"cell": self.name, "lines": stamped, "ended": ended})

    def check(self) -> None:
        if time.time() - self.started > self.timeout:
            raise CellFailed(
                f"exceeded --cell-timeout ({self.timeout:g} s) during {self.doing}, and was stopped: raise "
                "--cell-timeout if the cell needs longer, or see its log for where it hung."
            )
        task = self.worker.state.tasks.get(self.key)
        if task is None or task.state == "cancelled":
            raise CellFailed("the grid was cancelled", INTERRUPTED)

    def run(self, *command: str, cwd: Path | None = None) -> int:
        """Run `command` in the cell's group, its output forwarded as it comes; its exit status."""
        self.doing = shlex.join(command[2:] if command[0] == sys.executable else command)
        self.add([f"$ {self.doing}"])
        process = subprocess.Popen(
            command,
            cwd=cwd or self.scratch,
            env=command_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=self.reaper.pid,
            preexec_fn=default_sigint,
        )
        os.set_blocking(process.stdout.fileno(), False)
        pending, outputs, status = b"", [], None
        try:
            with process.stdout:
                while status is None:
                    with suppress(subprocess.TimeoutExpired):
                        status = process.wait(timeout=POLL_S)
                    pending += process.stdout.read() or b""  # None: nothing more for now (or a daemon holds the pipe)
                    *lines, pending = pending.split(b"\n")
                    if status is not None and pending:
                        lines.append(pending)
                    # of a line that a progress bar redrew, its last state
                    outputs += [line.rstrip(b"\r").rsplit(b"\r")[-1].decode(errors="replace") for line in lines]
                    self.add(outputs[len(outputs) - len(lines) :])
                    if status is None:
                        self.check()
        finally:
            if status is None:  # the cell stops (its deadline, the grid cancelled): its stage ends through `finally`
                stop([process.pid])
                process.wait()
        self.output = "\n".join(outputs)
        return status

    def retried(self, *command: str, cwd: Path | None = None) -> bool:
        """Run a transient command (clone, push) up to --attempts times, with backoff; whether it succeeded."""
        for attempt in range(1, self.attempts + 1):
            if self.run(*command, cwd=cwd) == 0:
                return True
            if attempt < self.attempts:
                delay = BACKOFF_S * 2 ** (attempt - 1)
                self.add([f"{self.doing} failed (try {attempt} of {self.attempts}); again in {delay:g} s"])
                for _ in range(round(delay / POLL_S)):
                    self.check()
                    time.sleep(POLL_S)
        return False

    def failure(self, what: str, advice: str) -> CellFailed:
        """The failure of a command, named by its cause: a full disk, else its last line of output."""
        for path in (self.scratch, MACHINE_DIR):
            free = shutil.disk_usage(path).free if path.exists() else NO_SPACE_BYTES
            if free < NO_SPACE_BYTES or "No space left on device" in self.output:
                return CellFailed(
                    f"{what}: no space left on the disk of {path} on {socket.gethostname()} ({free / 2**20:.0f} MiB "
                    "free). Free some space there, or point the workers' TMPDIR at a larger disk, then rerun."
                )
        last = next((line for line in reversed(self.output.splitlines()) if line.strip()), "no output")
        return CellFailed(f"{what} ({last.strip()}). {advice}")

    def land(self, overrides: list[str], git_url: str, sha: str, dvc_remote: str, dvc_url: str, options: dict) -> str:
        """Clone at `sha`, run the experiment, push its data then its ref; LANDED or BY_ANOTHER."""
        repo = self.scratch / "repo"
        reach_git = f"Check that {socket.gethostname()} reaches the git remote {git_url}, then rerun the grid."
        if not self.retried("git", "clone", "--quiet", "--no-checkout", git_url, str(repo)):
            raise self.failure("git clone failed", reach_git)
        if self.run("git", "checkout", "-q", sha, cwd=repo) != 0:
            raise self.failure(f"git checkout {sha[:7]} failed", "Push the commit, then rerun the grid.")
        with Config(dvc_dir=str(repo / ".dvc")).edit("local") as local:  # the grid's remote; the machine's cache
            local["core"] = {"remote": dvc_remote}
            local["remote"] = {dvc_remote: {"url": dvc_url}}
            local["cache"] = {"dir": str(MACHINE_DIR / "dvc-cache"), "type": "reflink,hardlink,copy"}
        dvc = [sys.executable, "-m", "dvc"]
        sets = [arg for override in overrides for arg in ("-S", override)]
        if (status := self.run(*dvc, "exp", "run", "--pull", "-n", self.name, *sets, cwd=repo)) != 0:
            raise self.failure(f"dvc exp run failed (exit status {status})", "The experiment failed: see its log.")
        if problem := dvc_remote_problem(dvc_url, options):
            raise CellFailed(f"{problem}: mount it there, or create it, then rerun the grid.")
        if not self.retried(*dvc, "push", "--run-cache", cwd=repo):
            raise self.failure(
                f"could not push to the DVC remote {dvc_url}", "Check space, permissions and credentials, then rerun."
            )
        if not self.retried(*dvc, "exp", "push", "--no-cache", "origin", self.name, cwd=repo):
            raise self.failure("dvc exp push failed", reach_git)
        return LANDED if "Pushed experiment" in self.output else BY_ANOTHER  # else diverged, or up to date

    def close(self) -> None:
        os.killpg(self.reaper.pid, signal.SIGKILL)
        self.reaper.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def run_cell(name: str, overrides: list[str], target: dict, timeout: float, attempts: int, topic: str) -> dict:
    """One Dask task: the cell's status and, if it did not land, why; its seconds and host."""
    cell, reason = Cell(name, timeout, attempts, topic), ""
    try:
        status = cell.land(overrides, **target)
    except CellFailed as failure:
        status, reason = failure.status, str(failure)
    except OSError as error:  # the cell's own files: a full disk, most likely
        status, reason = FAILED, str(cell.failure(f"{error.strerror}: {error.filename}", "See its log."))
    finally:
        cell.close()
    cell.add([f"{status}{f': {reason}' if reason else ''}"], ended=True)
    seconds = time.time() - cell.started
    return {"name": name, "status": status, "reason": reason, "seconds": seconds, "host": socket.gethostname()}
