"""Regenerate every result with N trainings at once, leaving exactly what `dvc repro` would.

    python -m tools.regenerate          # N = the cores this process may use, divided by params.yaml's threads
    python -m tools.regenerate -j 2

`dvc repro` runs one stage at a time. This command runs the data stages (`dvc repro tokenize`), then
every training run that `dvc status` finds out of date as its own DVC experiment on DVC's queue, N at
once (tools/exp_queue.py: `dvc exp run --queue evaluate@<arch>-<seed>`, `dvc queue start -j N`), then
`dvc repro`, which restores each run from DVC's run cache and computes the summaries. Runs are queued
longest first, by the training minutes of the last results (metrics/runs.csv). The workspace ends
as a plain `dvc repro` would leave it (the same dvc.lock and outputs), and the per-run experiments are
removed. Ctrl-C or SIGTERM stops every run it started; run the same command again to resume: the runs
that finished are restored from the run cache, not trained again.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from imdb_rnn import aggregated
from imdb_rnn.common import StageError, run_stage
from imdb_rnn.paths import PARAMS_FILE, RUNS_FILE, run_name
from tools.exp_queue import Experiment, Queue, interruptible, run_queued

EXPERIMENT_PREFIX = "regenerate-"
# Outputs that record wall time (each epoch's seconds, the training minutes): they differ between any two trainings.
TIMED_OUTPUTS = ("metrics/train", "metrics/runs.csv", "reports/results.md")


def dvc(*args: str, capture: bool = False) -> str:
    """Run a DVC command in the project; StageError if it fails. Interrupted, this interrupts it and waits."""
    output = subprocess.PIPE if capture else None
    with subprocess.Popen([sys.executable, "-m", "dvc", *args], stdout=output, stderr=output, text=True) as command:
        try:
            stdout, stderr = command.communicate()
        except BaseException:
            command.send_signal(signal.SIGINT)
            command.wait()
            raise
    if command.returncode != 0:
        detail = f": {(stderr or stdout).strip()}" if capture else " (its message is above)"
        raise StageError(f"`dvc {' '.join(args)}` failed{detail}")
    return stdout


def outdated_runs() -> list[str]:
    """The `<arch>-<seed>` of every training run whose train or evaluate stage `dvc status` finds out of date."""
    status = json.loads(dvc("status", "--json", capture=True) or "{}")
    runs = {name.split("@", 1)[1] for name in status if name.split("@")[0] in ("train", "evaluate")}
    return sorted(runs)


def longest_first(runs: list[str]) -> list[str]:
    """`runs` in the order to queue them: by their training minutes in RUNS_FILE (the last results), longest first.

    With N workers, the long runs start first and the short ones fill in behind them, so that no worker is
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


def regenerate(jobs: int) -> None:
    dvc("repro", "tokenize")
    queue = Queue(Path.cwd())
    runs = outdated_runs()
    restored = [run for run in runs if queue.restore([f"train@{run}", f"evaluate@{run}"])]
    to_train = longest_first([run for run in runs if run not in restored])
    print(f"restored from DVC's run cache: {', '.join(restored) or 'none'}")
    print(f"to train, {jobs} at once: {', '.join(to_train) or 'none'}", flush=True)
    experiments = [Experiment(EXPERIMENT_PREFIX + run, targets=(f"evaluate@{run}",)) for run in to_train]
    run_queued(queue, experiments, jobs)
    dvc("repro")  # restores every run from the run cache, then aggregate, plot and report
    # the per-run experiments (this time's and an interrupted time's) served only to fill the run cache
    queue.remove(name for name in queue.saved() | set(queue.status()) if name.startswith(EXPERIMENT_PREFIX))


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
