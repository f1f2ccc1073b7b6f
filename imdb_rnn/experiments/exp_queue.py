"""Run DVC experiments N at once on DVC's own queue, showing which are done, running and waiting (processes.py).

`run_queued` queues each experiment (`dvc exp run --queue`), starts DVC's queue with N workers (`dvc queue
start -j N`) and waits for it. Every stage an experiment runs lands in DVC's run cache, so a later
`dvc exp run` with the same stage restores it instead of training it again; that is how
`tools.ablations run` resumes after an interruption.

Ctrl-C, SIGTERM or a failed experiment stops everything it queued: waiting experiments are removed, DVC's
workers and the runs they started are stopped as `dvc queue kill` would (SIGINT, processes.stop), and the
command waits until they are gone. A stage writes its outputs atomically (imdb_rnn/core/common.py), so nothing
partial is left, and the queue's temporary copies are DVC's to remove.
"""

import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from imdb_rnn.core.common import StageError
from imdb_rnn.experiments.processes import POLL_SECONDS, STOP_SECONDS, Progress, stop

WORKER_GRACE_SECONDS = 30.0  # how long a started worker may take to write its pid file


@dataclass(frozen=True)
class QueuedExperiment:
    """One `dvc exp run --queue -n name -S option...`."""

    name: str
    set_params: tuple[str, ...] = ()  # -S values, e.g. "hidden=128"


def named_by(pid_files: Iterable[Path]) -> list[int]:
    """The process IDs that `pid_files` hold of processes still running, but not of one started after its file
    was written (1 s for the clocks' rounding): its ID is another's, reused since, and must not be signalled."""
    pids = []
    for path in pid_files:
        with suppress(OSError, ValueError, psutil.Error):
            process = psutil.Process(int(path.read_text()))
            if process.create_time() <= path.stat().st_mtime + 1 and process.status() != psutil.STATUS_ZOMBIE:
                pids.append(process.pid)
    return pids


class Queue:
    """DVC's experiment queue of the project at `root`, through DVC's Python API."""

    def __init__(self, root: Path) -> None:
        from dvc.repo import Repo  # DVC takes a second to import: only when a queue is used

        self.repo = Repo(str(root))
        self.celery = self.repo.experiments.celery_queue

    def status(self) -> dict[str, str]:
        """Each queued, running or finished experiment's status (Queued, Running, Success, Failed), by name."""
        return {task["name"]: task["status"] for task in self.celery.status() if task.get("name")}

    def put(self, experiment: QueuedExperiment) -> None:
        self.repo.experiments.run(
            params=list(experiment.set_params),
            queue=True,
            name=experiment.name,
        )

    def saved(self) -> set[str]:
        """The names of the experiments of the project's HEAD."""
        return {name for experiments in self.repo.experiments.ls().values() for name, _ in experiments}

    def remove(self, names: Iterable[str]) -> None:
        """Remove the experiments `names` (those that exist) and their entries in the queue."""
        names = set(names)
        if in_queue := names & set(self.status()):
            self.celery.remove(sorted(in_queue))
        if saved := names & self.saved():
            self.repo.experiments.remove(exp_names=sorted(saved))

    def start(self, jobs: int) -> None:
        self.celery.start_workers(jobs)

    def workers(self) -> list[int]:
        """The process IDs of DVC's queue workers that are alive (dvc_task's ManagedProcess writes their pid files)."""
        return named_by(Path(self.celery.wdir).glob("dvc-exp-worker-*.pid"))

    def processes(self) -> list[int]:
        """The process IDs of DVC's queue workers and experiment runs that are alive (a run's pid file is in its own
        folder of DVC's pid directory)."""
        return self.workers() + named_by(Path(self.celery.pid_dir).glob("*/*.pid"))

    def stop(self, names: list[str]) -> None:
        """Stop the workers, remove `names` still waiting, interrupt those running, and wait until all have ended."""
        self.celery.shutdown()  # workers take no new experiment and end after their current one
        status = self.status()
        if waiting := [name for name in names if status.get(name) == "Queued"]:
            self.celery.remove(waiting)
        # A run is its worker's child, in its process group, which `dvc queue kill` sends SIGINT; `stop` sends it to
        # the same processes, once each: a run's stage exits through `finally`, then its worker ends.
        if killed := stop(self.processes()):
            raise StageError(
                f"DVC's queue did not stop within {STOP_SECONDS:.0f} s, and {len(killed)} of its processes were "
                "killed: see `dvc queue status`, and clear what it still lists (`dvc queue kill <name>`)"
            )


def run_queued(
    queue: Queue, experiments: list[QueuedExperiment], jobs: int, landed: Callable[[str], None] | None = None
) -> None:
    """Run `experiments` on DVC's queue, `jobs` at once, calling landed(name) as each succeeds; StageError naming
    those that failed."""
    if not experiments:
        return
    names = [experiment.name for experiment in experiments]
    if busy := [name for name, state in queue.status().items() if state in ("Queued", "Running")]:
        raise StageError(
            f"DVC's queue already holds {', '.join(busy)}: wait for it or clear it (`dvc queue remove --queued`, "
            "`dvc queue kill <name>`), then run this again"
        )
    queue.remove(names)  # an earlier attempt's: a name must be unique (`dvc exp run --force` would retrain every stage)
    try:
        for experiment in experiments:
            queue.put(experiment)
        queue.start(jobs)
        started = time.monotonic()
        progress = Progress(names, jobs)
        try:
            while len(progress.done) < len(names):
                time.sleep(POLL_SECONDS)
                status = queue.status()
                outcomes = {name: state.lower() for name, state in status.items() if state in ("Success", "Failed")}
                if landed is not None:
                    for name in names:
                        if outcomes.get(name) == "success" and name not in progress.done:
                            landed(name)
                progress.update([name for name, state in status.items() if state == "Running"], outcomes)
                if time.monotonic() - started > WORKER_GRACE_SECONDS and not queue.workers():
                    # every worker ended with experiments still queued (DVC ends one now and then). Only then: DVC
                    # tells a busy worker from a dead one by a ping it may not answer, and would start its twin.
                    if "Queued" in status.values():
                        queue.start(jobs)
                        started = time.monotonic()
                if failed := [name for name in names if status.get(name) == "Failed"]:
                    raise StageError(
                        f"{', '.join(failed)} failed: see `dvc queue logs {failed[0]}`; the others were stopped"
                    )
        finally:
            progress.close()
    except BaseException:  # a failed run, Ctrl-C, SIGTERM (Interrupted: processes.interruptible)
        print("stopping DVC's queue (waiting experiments removed, running ones interrupted) ...", flush=True)
        queue.stop(names)
        raise
    queue.celery.shutdown()
