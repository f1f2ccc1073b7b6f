"""Regenerate every result with N trainings at once, leaving exactly what `dvc repro` would.

    python -m tools.regenerate          # N = the cores this process may use, divided by params.yaml's threads
    python -m tools.regenerate -j 2

`dvc repro` runs one stage at a time. This command runs the data stages (`dvc repro tokenize`), then
every training run that `dvc status` finds out of date with DVC's own parallel stage execution (DVC's
`repro` reference): one `dvc repro --single-item train@<arch>-<seed> evaluate@<arch>-<seed>` per run,
N at once in the workspace, longest first by the training minutes of the last results
(metrics/runs.csv). DVC releases its repository lock while a stage's command runs, and
`--wait-for-lock` makes the others wait for the short bookkeeping around it. Then `dvc repro` computes
the summaries. Each run's DVC output goes to .dvc/tmp/regenerate/<run>.log. The workspace ends as a
plain `dvc repro` would leave it (the same dvc.lock and outputs). Ctrl-C or SIGTERM stops every run
it started; run the same command again to resume: the runs that finished are in dvc.lock, and a run
trained before with the same inputs is restored from DVC's run cache, not trained again.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import yaml

from imdb_rnn.analysis import aggregated
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.paths import PARAMS_FILE, RUNS_FILE, run_name
from imdb_rnn.experiments.processes import POLL_SECONDS, Progress, interruptible, stop

LOG_DIR = Path(".dvc/tmp/regenerate")
# Outputs that record wall time (each epoch's seconds, the training minutes): they differ between any two trainings.
TIMED_OUTPUTS = ("metrics/train", "metrics/runs.csv", "reports/results.md")


def interrupt(commands: list[subprocess.Popen]) -> None:
    """Stop DVC commands as Ctrl-C would, but without interrupting DVC itself, and wait until they have ended.

    SIGINT goes to each command's descendants (`stop`, sparing the commands): the stage ends, and DVC, which
    ignores SIGINT while a stage runs, fails it and releases its locks. A SIGINT that reached DVC in its own
    bookkeeping could cut short the lock file it was writing (.dvc/tmp/rwlock, seen in a test), and every
    later DVC command would fail. A DVC between two stages gets nothing and starts the next, which is
    interrupted in its turn.
    """
    stop([command.pid for command in commands if command.poll() is None], spare_roots=True)


def dvc(*args: str, capture: bool = False) -> str:
    """Run a DVC command in the project, in its own session (see AtOnce); StageError if it fails. Interrupted (Ctrl-C,
    SIGTERM: `interruptible`), this interrupts it (`interrupt`) and waits."""
    output = subprocess.PIPE if capture else None
    command = [sys.executable, "-m", "dvc", *args]
    with subprocess.Popen(command, stdout=output, stderr=output, text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            interrupt([process])
            raise
    if process.returncode != 0:
        detail = f": {(stderr or stdout).strip()}" if capture else " (its message is above)"
        raise StageError(f"`dvc {' '.join(args)}` failed{detail}")
    return stdout


def outdated_runs() -> list[str]:
    """The `<arch>-<seed>` of every training run whose train or evaluate stage `dvc status` finds out of date."""
    status = json.loads(dvc("status", "--json", capture=True) or "{}")
    runs = {name.split("@", 1)[1] for name in status if name.split("@")[0] in ("train", "evaluate")}
    return sorted(runs)


def longest_first(runs: list[str]) -> list[str]:
    """`runs` in the order to start them: by their training minutes in RUNS_FILE (the last results), longest first.

    With N at once, the long runs start first and the short ones fill in behind them, so that no one is
    left with a long run at the end while the others idle. Runs the file does not hold go first: their
    time is unknown.
    """
    minutes = {}
    if RUNS_FILE.exists():
        table = aggregated.runs()
        minutes = dict(zip(map(run_name, table["arch"], table["seed"]), table["train_minutes"], strict=True))
    return sorted(runs, key=lambda run: -minutes.get(run, float("inf")))


def lock_without_timings(path: Path) -> dict:
    """A dvc.lock with the hashes of TIMED_OUTPUTS blanked wherever they appear: what two regenerations share."""
    lock = yaml.safe_load(path.read_text())
    for stage in lock["stages"].values():
        for entry in stage.get("deps", []) + stage.get("outs", []):
            if entry["path"].startswith(TIMED_OUTPUTS):
                entry.pop("md5"), entry.pop("size"), entry.pop("nfiles", None)
    return lock


def default_jobs() -> int:
    """The cores this process may use, divided by the threads each training takes."""
    return max(1, len(os.sched_getaffinity(0)) // int(yaml.safe_load(PARAMS_FILE.read_text())["threads"]))


class AtOnce:
    """Commands, `jobs` at once, each in its own session (a Ctrl-C in the terminal reaches only this process,
    which stops them with `interrupt`), each one's output in log_dir/<name>.log."""

    def __init__(self, commands: dict[str, list[str]], jobs: int, log_dir: Path = LOG_DIR) -> None:
        self.commands, self.jobs, self.log_dir = commands, jobs, log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.starting = threading.Lock()  # no command starts while `stop` signals the running ones

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start_and_wait(self, name: str) -> int | None:
        """Run command `name`; its exit status, or None if it was not started (a command failed, or `stop`)."""
        with self.starting:
            if self.stopping:
                return None
            with self.log(name).open("w") as log:  # the child writes to its own copy of the file
                process = subprocess.Popen(
                    self.commands[name], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.processes[name] = process
        status = process.wait()
        if status != 0:
            with self.starting:
                self.stopping = True  # start nothing more: `run` stops the others
        return status

    def stop(self) -> None:
        """Start nothing more, interrupt every running command (`interrupt`) and wait until all have ended."""
        with self.starting:
            self.stopping = True
        interrupt(list(self.processes.values()))

    def run(self) -> None:
        """Every command, in order, `jobs` at once; StageError naming the first that failed (the others are stopped)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        names = list(self.commands)
        progress = Progress(names, self.jobs)
        pool = ThreadPoolExecutor(self.jobs)
        futures: dict[Future, str] = {pool.submit(self.start_and_wait, name): name for name in names}
        try:
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                running = [name for name, process in list(self.processes.items()) if process.poll() is None]
                ended = {futures[future]: future.result() for future in futures if future.done()}
                outcomes = {
                    name: "success" if code == 0 else "failed" for name, code in ended.items() if code is not None
                }
                progress.update(running, outcomes)
                if failed := [name for name in names if outcomes.get(name) == "failed"]:
                    raise StageError(f"{failed[0]} failed: see {self.log(failed[0])}; the others were stopped")
        except BaseException:  # a failed command, Ctrl-C, SIGTERM (Interrupted: `interruptible`)
            print("stopping every run it started ...", flush=True)
            self.stop()
            raise
        finally:
            pool.shutdown(cancel_futures=True)
            progress.close()


def reproduce_run(run: str) -> list[str]:
    """The command that trains and evaluates `run` in the workspace.

    --single-item: the data stages upstream are up to date (regenerate ran them), and DVC's check of
    them would ask for the data's write lock, which the other runs' trainings hold for reading.
    """
    stages = [f"train@{run}", f"evaluate@{run}"]
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", *stages]


def regenerate(jobs: int) -> None:
    dvc("repro", "tokenize")
    runs = longest_first(outdated_runs())
    print(f"to train, {jobs} at once: {', '.join(runs) or 'none'}", flush=True)
    if runs:
        AtOnce({run: reproduce_run(run) for run in runs}, jobs).run()
    dvc("repro")  # aggregate, plot and report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-j", "--jobs", type=int, help="trainings at once (default: cores / threads)")
    args = parser.parse_args()
    if args.jobs is not None and args.jobs < 1:
        raise StageError(f"-j {args.jobs}: the number of trainings at once must be at least 1")
    with interruptible():
        regenerate(args.jobs or default_jobs())


if __name__ == "__main__":
    run_stage(main)
