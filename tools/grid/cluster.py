"""The driver's side of Dask: connect to the cluster (or start a local one), ask its workers, run the cells.

The code that runs on the workers (tools/grid/cell.py, and preflight.worker_facts) is sent by value:
a worker needs the project's Python environment, not a checkout of it, and runs the code of the
driver's grid. Dask pickles a function of an importable module by reference, so each call is wrapped
in ByValue, which pickles it with cloudpickle, the grid's modules registered to go by value.
"""

import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import cloudpickle
from distributed import Client, KilledWorker, LocalCluster

from imdb_rnn.common import StageError
from tools.grid.cell import Options, run_cell
from tools.grid.landing import FAILED
from tools.grid.plan import Cell
from tools.grid.preflight import Target, check_facts, driver_facts, worker_facts
from tools.grid.progress import Progress
from tools.grid.summary import write_log

WORKER_MODULES = ("tools.grid.cell", "tools.grid.landing", "tools.grid.plan", "tools.grid.preflight")  # run there
ALLOWED_FAILURES = 2  # local cluster: a cell whose worker dies a third time is reported failed (KilledWorker)
TICK_S = 0.5
STOP_WAIT_S = 30.0  # after an interruption: how long the running cells get to stop and remove their clones


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the driver; `detail` says what became of the cells."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.detail = ""


class ByValue:
    """A call that Dask sends to the workers by value (cloudpickle), not as a reference to a module."""

    def __init__(self, call: Callable) -> None:
        self.call = call

    def __call__(self) -> object:
        return self.call()

    def __reduce__(self) -> tuple:
        for module in WORKER_MODULES:
            cloudpickle.register_pickle_by_value(sys.modules[module])
        return cloudpickle.loads, (cloudpickle.dumps(self.call),)


@contextmanager
def _ignoring_sigint() -> Iterator[None]:
    """SIGINT ignored while the local workers start, so that they ignore it too (a terminal's Ctrl-C reaches
    the whole process group; the driver alone stops the cells, without the workers' tracebacks)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def connect(scheduler: str | None, workers: int, timeout: float) -> Iterator[Client]:
    """A client of the scheduler at `scheduler` (with a worker), or of a local cluster of `workers` single-threaded processes."""
    if not scheduler:
        with _ignoring_sigint():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES},
            )
        with cluster, Client(cluster) as client:
            print(f"local cluster: {workers} single-threaded workers", flush=True)
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout)
    except Exception as error:  # refused, timed out, a malformed address, or something else answering there
        reason = (str(error).splitlines() or [""])[0] or type(error).__name__
        raise StageError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({reason}). Check that it runs "
            "(dask scheduler prints the address it listens on), that this machine reaches that host and port, and "
            "that it is a Dask scheduler; or leave out --scheduler to run on a local cluster."
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise StageError(
                f"the Dask scheduler at {scheduler} has no worker (waited {timeout:g} s): start some on the "
                f"machines that will run the cells (dask worker {scheduler} --nthreads 1), then rerun."
            ) from None
        yield client


def check_workers(client: Client, target: Target) -> None:
    """Ask every worker for its versions and whether it reaches both remotes; refuse any mismatch (preflight)."""
    ask = partial(worker_facts, target.git_url, target.dvc_url, target.dvc_config)
    check_facts(client.run(ByValue(ask)), driver_facts())


def _result(future, cell: Cell) -> dict:
    """The cell's result; a task that raised, or whose worker kept dying, failed with the reason."""
    try:
        return future.result()
    except KilledWorker:
        reason = (
            f"its worker died each of the {ALLOWED_FAILURES + 1} times it ran (out of memory? see the workers' logs)"
        )
    except Exception as error:  # the task raised, twice: not a failing command, which the cell reports itself
        reason = f"{type(error).__name__}: {error}"
    return {"name": cell.name, "status": FAILED, "reason": reason}


def _await_stops(progress: Progress) -> None:
    """Wait until every running cell reported it stopped (its processes killed, its clone removed), or STOP_WAIT_S."""
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        progress.update()
        if set(progress.running) <= progress.stopped:
            return
        time.sleep(TICK_S / 5)


def run_cells(
    client: Client, cells: list[Cell], target: Target, options: Options, progress: Progress, logs: Path
) -> dict[str, dict]:
    """One task per cell; each result as it comes (its log saved, its line printed); Interrupted stops them all."""
    client.subscribe_topic(options.topic, progress.on_event)
    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            ByValue(partial(run_cell, cell, target, options)),
            key=f"grid-{cell.name}-{token}",
            pure=False,
            retries=1,
        ): cell
        for cell in cells
    }
    results: dict[str, dict] = {}
    try:
        with progress:
            while len(results) < len(futures):
                for future, cell in futures.items():
                    if cell.name not in results and future.done():
                        results[cell.name] = _result(future, cell)
                        write_log(logs, results[cell.name])
                        progress.finish(results[cell.name])
                progress.update()
                time.sleep(TICK_S)
    except Interrupted as stop:
        client.cancel(list(futures))
        progress.update()
        running = set(progress.running)
        _await_stops(progress)
        landed = sum(result["status"] != FAILED for result in results.values())
        stop.detail = (
            f"{len(running & progress.stopped)} running cells stopped (their processes killed, their clones removed)"
            f"{'' if running <= progress.stopped else f', {len(running - progress.stopped)} did not answer'}, "
            f"{landed} landed, {len(cells) - len(results) - len(running)} not started"
        )
        raise
    finally:
        client.unsubscribe_topic(options.topic)
    return results


def new_topic() -> str:
    """The Dask event topic of one grid run."""
    return f"grid-{uuid.uuid4().hex}"
