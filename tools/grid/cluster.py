"""The driver's side of Dask: a cluster, its workers' pre-flight, the cells as tasks, their logs as they come.

The cluster is a local one (a local worker killed under a cell: the cell runs again, up to twice), a running
scheduler (--scheduler), or batch jobs that dask-jobqueue submits as its YAML file says (--jobqueue: a job
that ends under a cell fails it, as the job's limits would stop it again).
"""

import re
import signal
import tempfile
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import dask.config
import dask_jobqueue
import yaml
from distributed import Client, KilledWorker, LocalCluster, wait
from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

from imdb_rnn.core.common import StageError
from imdb_rnn.experiments import processes
from imdb_rnn.experiments.processes import POLL_SECONDS, STOP_SECONDS, Interrupted, Progress
from tools.grid import cell
from tools.grid.cell import FAILED

DIED = "its worker died (killed, out of memory, or its batch job ended: cancelled, or over a limit); see its logs"
BATCH_SYSTEMS = {name[:-7].lower(): cls for name, cls in vars(dask_jobqueue).items() if name.endswith("Cluster")}
REPORT_S = 10.0  # after an interruption, beyond a cell's STOP_SECONDS for its command: its clone's removal, its word
PROGRESS = re.compile(r"\] (\$ .*|Running stage .*|.* epoch \d+:.*|(landed|failed|interrupted).*)$")


def read_jobqueue(path: Path) -> dict:
    """dask-jobqueue's YAML file at `path`, one batch system under `jobqueue:`; ValueError saying what is wrong."""
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(str(error)) from None
    systems = list(content.get("jobqueue", {})) if isinstance(content, dict) else []
    if len(systems) != 1 or systems[0] not in BATCH_SYSTEMS:
        raise ValueError(f"one batch system under 'jobqueue:' (as in dask-jobqueue's file), not {systems}")
    return content


@contextmanager
def connect(scheduler: str | None, jobqueue: dict | None, workers: int, timeout: float, logs: Path) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, of batch jobs (`jobqueue`), or of a local cluster of `workers`."""
    if scheduler:
        try:
            client, cluster, workers = Client(scheduler, timeout=timeout), None, 1
        except Exception as error:  # refused, timed out, a malformed address, or something else answering there
            reason = (str(error).splitlines() or [""])[0] or type(error).__name__
            raise StageError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({reason}). Check that it runs "
                "and that this machine reaches it; or leave out --scheduler to run on a local cluster."
            ) from None
    else:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by local workers: the driver stops cells
        try:
            if jobqueue:  # dask-jobqueue's own YAML file, one batch system under `jobqueue:`
                ((system, options),) = jobqueue["jobqueue"].items()
                dask.config.update(dask.config.config, jobqueue, priority="new")
                jobs = options.get("log-directory", str(logs / "jobs"))
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a job that ends fails its cell
                    cluster = BATCH_SYSTEMS[system](config_name=system, log_directory=jobs)
                cluster.scale(workers)
            else:
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, scheduler_kwargs={"allowed_failures": 2}
                )
        finally:
            signal.signal(signal.SIGINT, previous)
        print(f"{type(cluster).__name__}: {workers} workers; dashboard {cluster.dashboard_link}", flush=True)
        client = Client(cluster)
    with cluster or nullcontext(), client:  # the client closes first: a scheduler gone under it logs a traceback
        try:
            client.wait_for_workers(workers, timeout=timeout)
        except TimeoutError:
            raise StageError(
                f"{len(client.scheduler_info()['workers'])} of {workers} workers joined in {timeout:g} s: start them "
                "(dask worker <scheduler>), or raise --connect-timeout for a batch queue, then rerun."
            ) from None
        yield client


def check_workers(client: Client, target: dict) -> None:
    """Send the cells' module to the workers; refuse versions unlike the driver's, or a worker that misses a remote."""
    with tempfile.TemporaryDirectory() as scratch:  # workers need the environment, not a checkout
        archive = Path(scratch, "tools-grid-cell.zip")
        with zipfile.ZipFile(archive, "w") as zipped:  # zipimport needs the packages' __init__.py
            for package in ("tools", "tools/grid", "imdb_rnn", "imdb_rnn/experiments"):
                zipped.writestr(f"{package}/__init__.py", "")
            zipped.write(cell.__file__, "tools/grid/cell.py")
            zipped.write(processes.__file__, "imdb_rnn/experiments/processes.py")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if client.cluster is None:  # a scheduler in a process of its own unpickles the tasks: it needs them too
                client.register_plugin(SchedulerUploadFile(str(archive)), name=archive.name)
            # one name, replaced by each grid: a joining worker gets one copy (several at once corrupt the zip)
            client.register_plugin(UploadFile(str(archive)), name=archive.name)
            client.get_versions(check=True, packages=["torch", "dvc", "dask_jobqueue"])
    problems = [str(warning.message) for warning in caught if "Mismatched versions" in str(warning.message)]
    reached = client.run(cell.reach, target["git_url"], target["dvc_url"], target["options"])
    problems += [f"worker {worker}: {why}" for worker, why in reached.items() if why]
    if problems:
        found = "\n".join(problems)
        raise StageError(
            f"the workers differ from this machine, or miss a remote (found before any cell started):\n{found}\nEvery "
            "worker needs git and this environment (pip install -r requirements.txt) and both remotes: fix, rerun."
        )


def run_cells(client: Client, cells: dict, target: dict, timeout: float, attempts: int, logs: Path) -> dict:
    """One task per cell; each cell's log lines to <logs>/<cell>.log as they come, its progress (processes.py)
    here; Interrupted stops them all."""
    topic, started, ended, begin = f"grid-{uuid.uuid4().hex}", set(), set(), time.monotonic()
    progress = Progress(list(cells), sum(client.nthreads().values()))

    def on_event(event: tuple) -> None:
        message = event[1]
        started.add(message["cell"])  # on the client's own thread: each set operation is atomic (the GIL)
        with (logs / f"{message['cell']}.log").open("a") as log:
            log.writelines(f"{line}\n" for line in message["lines"])
        for line in message["lines"]:
            if shown := PROGRESS.search(line):
                progress.write(f"{time.monotonic() - begin:7.0f} s  {message['cell']}: {shown[1]}")
        if message.get("ended"):
            ended.add(message["cell"])

    client.subscribe_topic(topic, on_event)
    args = (target, timeout, attempts, topic)
    futures = {client.submit(cell.run_cell, name, cells[name], *args, pure=False): name for name in cells}
    results: dict[str, dict] = {}
    try:
        while pending := [future for future in futures if futures[future] not in results]:
            with suppress(TimeoutError):
                wait(pending, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            for future in (future for future in pending if future.done()):
                try:
                    results[futures[future]] = future.result()
                except KilledWorker:
                    results[futures[future]] = {"name": futures[future], "status": FAILED, "reason": DIED}
            progress.update(started - ended, {name: result["status"] for name, result in results.items()})
    except Interrupted as stop:
        client.cancel(list(futures))  # each running cell sees it, stops its commands and removes its clone
        deadline = time.monotonic() + STOP_SECONDS + REPORT_S
        while not started <= ended and time.monotonic() < deadline:
            time.sleep(0.1)
        landed = sum(result["status"] != FAILED for result in results.values())
        stop.detail = (
            f"{len(started & ended) - len(results)} running cells stopped (their commands interrupted, their "
            f"clones removed), {len(started - ended)} did not answer, {landed} landed"
        )
        raise
    finally:
        client.unsubscribe_topic(topic)
        client.cancel(list(futures))  # released: the cluster's close does not warn of them
        progress.close()
    return results
