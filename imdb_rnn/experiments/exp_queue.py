"""Run DVC experiments N at once on DVC's own queue, showing which are done, running and waiting (imdb_rnn/experiments/processes.py).

`run_queued` queues each experiment (`dvc exp run --queue`), starts DVC's queue with N workers (`dvc queue
start -j N`) and waits for it. Every stage an experiment runs lands in DVC's run cache, so a later
`dvc exp run` with the same stage restores it instead of training it again; that is how
`tools.ablations run` resumes after an interruption.

Ctrl-C, SIGTERM or a failed experiment stops everything it queued: waiting experiments are removed, running
ones are interrupted (DVC signals the whole process group of each), DVC's workers are stopped, and the
command waits until they are gone. A stage writes its outputs atomically (imdb_rnn/core/common.py), so nothing
partial is left, and the queue's temporary copies are DVC's to remove.
"""

import os
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from imdb_rnn.core.common import StageError
from imdb_rnn.experiments.processes import Progress

POLL_SECONDS = 2.0
WORKER_GRACE_SECONDS = 30.0  # how long a started worker may take to write its pid file
STOP_SECONDS = 60.0  # how long a stopped queue may take to end its workers and tasks


@dataclass(frozen=True)
class QueuedExperiment:
    """One `dvc exp run --queue -n name -S option...`."""

    name: str
    set_params: tuple[str, ...] = ()  # -S values, e.g. "hidden=128"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        pass
    return True


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
        pids = []
        for path in Path(self.celery.wdir).glob("dvc-exp-worker-*.pid"):
            with suppress(OSError, ValueError):
                pids.append(int(path.read_text()))
        return [pid for pid in pids if alive(pid)]

    def processes(self) -> list[int]:
        """The process IDs of DVC's queue workers and experiment runs that are still alive."""
        return self.workers() + [info.pid for _, info in self.celery.proc.processes() if alive(info.pid)]

    def stop(self, names: list[str]) -> None:
        """Stop the workers, remove `names` still waiting, interrupt those running, and wait until all have ended."""
        self.celery.shutdown()  # workers take no new experiment and end after their current one
        status = self.status()
        if waiting := [name for name in names if status.get(name) == "Queued"]:
            self.celery.remove(waiting)
        if running := [name for name in names if status.get(name) == "Running"]:
            self.celery.kill(running)  # SIGINT to each run's process group: its stage exits through `finally`
        deadline = time.monotonic() + STOP_SECONDS
        while self.processes():
            if time.monotonic() > deadline:
                self.celery.shutdown(kill=True)
                raise StageError(f"DVC's queue did not stop within {STOP_SECONDS:.0f} s: see `dvc queue status`")
            time.sleep(0.5)


def run_queued(queue: Queue, experiments: list[QueuedExperiment], jobs: int) -> None:
    """Run `experiments` on DVC's queue, `jobs` at once; StageError naming those that failed."""
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
                progress.update(status)
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
    except BaseException:  # a failed run, Ctrl-C, SIGTERM (SystemExit through run_stage)
        print("stopping DVC's queue (waiting experiments removed, running ones interrupted) ...", flush=True)
        queue.stop(names)
        raise
    queue.celery.shutdown()
