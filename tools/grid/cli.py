"""Run a grid of DVC experiments on a Dask cluster; each cell lands as a DVC experiment of this repository.

    python -m tools.grid --prefix h128 -S hidden=64,128 -S 'seeds=[0],[1],[2]' [--scheduler tcp://host:8786]

The -S options are DVC's own (`dvc exp run --queue -S`): `key=a,b` sweeps a key, the grid is the
product of the sweeps. Everything is checked first (tools/grid/preflight.py, and each cell's params
with the code of --rev: tools/grid/plan.py). Each cell not yet on the git remote is then one Dask task
(tools/grid/cell.py): `dvc exp run --pull -n <name> -S ...` in a scratch clone on a worker, then its
data and run cache to the DVC remote and its ref to the git remote (tools/grid/landing.py). The cells'
progress shows as they run (tools/grid/progress.py); at the end the driver pulls their refs and prints
a row per cell with the metrics of its ref on the remote (tools/grid/summary.py). Rerunning the same
command runs only what is missing. See docs/grid.md.
"""

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imdb_rnn.common import StageError
from tools.grid.cell import Options
from tools.grid.cluster import Interrupted, check_workers, connect, new_topic, run_cells
from tools.grid.landing import (
    ALREADY,
    FAILED,
    GitRemoteError,
    exp_ref,
    pull_experiments,
    ref_metrics,
    remote_experiments,
)
from tools.grid.plan import Cell, plan_cells, validate_cells
from tools.grid.preflight import Target, dvc_remote, find_root, git_remote_url, resolve_revision
from tools.grid.progress import Progress
from tools.grid.summary import default_logs_dir, report_failures, rows, table, write_summary

SIGNALS = (signal.SIGINT, signal.SIGTERM)
BACKOFF_S = 2.0  # before the second try of a transient command, doubled before each next one


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.grid", description=__doc__.split("\n\n")[0], epilog="See docs/grid.md."
    )
    parser.add_argument("--prefix", required=True, help="experiment names are <prefix>-<key>_<value>-...")
    parser.add_argument(
        "-S",
        "--set-param",
        action="append",
        default=[],
        metavar="[FILE:]KEY=VALUES",
        help="as dvc exp run --queue -S: key=a,b sweeps; 'key=[0,1]' is one list value, 'key=[0],[1]' two",
    )
    parser.add_argument("--scheduler", help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="without --scheduler: local workers (default: one per core)"
    )
    parser.add_argument("--git-remote", default="origin", help="the git remote the workers clone and push to")
    parser.add_argument("--dvc-remote", help="the DVC remote for data and run cache (default: DVC's default)")
    parser.add_argument("--rev", default="HEAD", help="the commit every cell starts from (default: HEAD)")
    parser.add_argument(
        "--metric",
        default="test_acc.mean",
        help="the metrics the summary shows: keys ending so (default: test_acc.mean)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=6 * 3600,
        metavar="S",
        help="a cell still running after S seconds is stopped and fails (default: 6 hours)",
    )
    parser.add_argument(
        "--attempts", type=int, default=3, help="tries of a transient command (clone, fetch, push) (default: 3)"
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30,
        metavar="S",
        help="how long to wait for the scheduler and a worker (default: 30)",
    )
    parser.add_argument(
        "--logs", type=Path, help="where each cell's log goes (default: .dvc/tmp/grid/<prefix>-<time>-<pid>)"
    )
    parser.add_argument(
        "--pull-data", action="store_true", help="also pull the cells' data and models here (default: refs and metrics)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.attempts < 1:
        parser.error("--workers and --attempts must be at least 1")
    if args.cell_timeout <= 0 or args.connect_timeout <= 0:
        parser.error("--cell-timeout and --connect-timeout must be positive")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*", args.prefix):
        parser.error(f"--prefix {args.prefix!r}: use letters, digits, '_', '+' and '-' (it starts git ref names)")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    for each in SIGNALS:  # once: the cells' cleanup runs to its end
        signal.signal(each, signal.SIG_IGN)
    raise Interrupted(signum)


def _run_on_cluster(
    args: argparse.Namespace, target: Target, todo: list[Cell], logs: Path, validated: Callable[[], None]
) -> dict[str, dict]:
    """Connect to the cluster, wait until the cells are `validated`, check the workers, run the cells."""
    with connect(args.scheduler, args.workers, args.connect_timeout) as client:
        validated()
        check_workers(client, target)
        options = Options(args.cell_timeout, args.attempts, BACKOFF_S, new_topic())
        progress = Progress(args.prefix, [cell.name for cell in todo], sys.stdout, live=sys.stdout.isatty())
        return run_cells(client, todo, target, options, progress, logs)


def run(args: argparse.Namespace) -> None:
    """Check everything, run the cells not yet on the git remote, pull them all here, print a summary."""
    root = find_root()
    git_url = git_remote_url(root, args.git_remote)
    remote, remote_url, remote_options = dvc_remote(root, args.dvc_remote)
    target = Target(git_url, resolve_revision(root, args.rev, git_url), remote, remote_url, remote_options)
    cells = plan_cells(args.prefix, args.set_param)
    with ThreadPoolExecutor(1) as pool:  # the cells are validated (a few seconds) while the cluster starts
        validation = pool.submit(validate_cells, root, target.sha, cells)
        try:
            on_remote = remote_experiments(target.git_url, target.sha)
        except GitRemoteError as error:
            raise StageError(f"cannot read the git remote {git_url}: {error}. Check the network, then rerun.") from None
        todo = [cell for cell in cells if cell.name not in on_remote]
        logs = (args.logs or default_logs_dir(root, args.prefix)).resolve()
        print(
            f"grid {args.prefix}: {len(cells)} cells from {target.sha[:7]}, {len(cells) - len(todo)} already on the "
            f"git remote; logs in {logs}",
            flush=True,
        )
        results = {cell.name: {"name": cell.name, "status": ALREADY} for cell in cells if cell.name in on_remote}
        try:
            if todo:
                results |= _run_on_cluster(args, target, todo, logs, validation.result)
        except StageError:
            validation.result()  # a wrong cell is the first thing to fix, even with the cluster out of reach
            raise
        validation.result()
    refs = {cell.name: exp_ref(target.sha, cell.name) for cell in cells if results[cell.name]["status"] != FAILED}
    if refs:
        pull_experiments(root, args.git_remote, target.dvc_remote, list(refs.values()), args.pull_data)
    metrics = ref_metrics(root, list(refs.values())) if refs else {}
    records = rows(cells, results, {name: metrics[ref] for name, ref in refs.items()})
    text = table(records, args.metric)
    print(f"{text}\nlogs: {logs}", flush=True)
    write_summary(logs, records, text)
    report_failures(cells, results, logs)


def main(argv: list[str] | None = None) -> None:
    """The command; SIGINT or SIGTERM (from a terminal, or to this PID alone) stops the running cells, in one line."""
    args = parse_args(argv)
    previous = {signum: signal.signal(signum, _interrupt) for signum in SIGNALS}
    try:
        run(args)
    except Interrupted as stop:
        print(
            f"interrupted ({stop}){f': {stop.detail}' if stop.detail else ''}. Rerun the same command to run the rest.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + stop.signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
