"""Run a grid of DVC experiments on a Dask cluster; each cell lands as a DVC experiment of this repository.

    python -m tools.grid --prefix h128 -S hidden=64,128 -S 'seeds=[0],[1],[2]' [--scheduler tcp://host:8786]

The -S options are DVC's own (`dvc exp run -S`); the grid is the product of their sweeps. The repository,
remotes, disk and every cell's params are checked, then every worker; each cell not yet on the git remote is
one Dask task. At the end the cells' experiments are pulled here, a row per cell with its metrics as the
remote has them.
"""

import argparse
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import dvc.api
from dvc.repo import Repo
from dvc.utils.cli_parse import to_path_overrides
from dvc.utils.hydra import get_hydra_sweeps
from tabulate import tabulate

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PARAMS_FILE
from imdb_rnn.experiments.processes import interruptible
from tools.grid.cell import FAILED, NO_SPACE_BYTES
from tools.grid.cluster import check_workers, connect, read_jobqueue, run_cells
from tools.grid.params import STAGE_CODE, check_cells

ALREADY = "already on the remote"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.grid", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--prefix", required=True, help="experiment names are <prefix>-<key>_<value>-...")
    add("-S", "--set-param", action="append", default=[], metavar="[FILE:]KEY=VALUES", help="as dvc exp run -S")
    add_exclusive = parser.add_mutually_exclusive_group().add_argument
    add_exclusive("--scheduler", help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    add_exclusive("--jobqueue", type=Path, metavar="YAML", help="jobs (SLURM, PBS...) as dask-jobqueue's YAML says")
    add("--workers", type=int, help="local workers (default: one per core), or batch jobs' workers (one per cell)")
    add("--git-remote", default="origin", help="the git remote the workers clone and push to")
    add("--dvc-remote", help="the DVC remote for data and run cache (default: DVC's default)")
    add("--rev", default="HEAD", help="the commit every cell starts from")
    add("--metric", default="best", help="the summary shows the metrics whose keys end so: n, best or last")
    add("--cell-timeout", type=float, default=6 * 3600, metavar="S", help="a cell running S seconds fails")
    add("--attempts", type=int, default=3, help="tries of a clone or a push")
    add("--connect-timeout", type=float, default=30, metavar="S", help="the wait for the scheduler and workers")
    add("--logs", type=Path, help="each cell's log (default: .dvc/tmp/grid/<prefix>-<time>-<pid>)")
    add("--pull-data", action="store_true", help="also pull the cells' data and models here")
    args = parser.parse_args(argv)
    if (args.workers is not None and args.workers < 1) or args.attempts < 1:
        parser.error("--workers and --attempts must be at least 1")
    if args.cell_timeout <= 0 or args.connect_timeout <= 0:
        parser.error("--cell-timeout and --connect-timeout must be positive")
    if args.jobqueue:
        try:
            args.jobqueue = read_jobqueue(args.jobqueue)
        except ValueError as error:
            parser.error(f"--jobqueue: {error}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*", args.prefix):
        parser.error(f"--prefix {args.prefix!r}: use letters, digits, '_', '+' and '-' (it starts git ref names)")
    return args


def cell_name(prefix: str, overrides: list[str]) -> str:
    """`<prefix>-<key>_<value>-...`, git-ref-safe; a long value is a hash. The same options give the same name."""
    parts = [prefix]
    for key, _, value in (override.partition("=") for override in overrides):
        slug = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._+]+", "-", value)).strip("-.")
        parts.append(f"{key}_{slug if len(slug) <= 24 else hashlib.sha1(value.encode()).hexdigest()[:8]}")
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", "-".join(parts))
    return name if len(name) <= 120 else f"{prefix}-{hashlib.sha1(' '.join(overrides).encode()).hexdigest()[:12]}"


def plan_cells(prefix: str, set_params: list[str]) -> dict[str, list[str]]:
    """The cells' names and overrides: the product of the -S sweeps, expanded by DVC's own parser (Hydra's)."""
    try:
        sweeps = get_hydra_sweeps(to_path_overrides(set_params))
    except Exception as error:  # Hydra's grammar errors
        raise StageError(f"cannot parse the -S options {set_params}: {error}") from None
    cells = {}
    for sweep in sweeps:
        overrides = [o if path == "params.yaml" else f"{path}:{o}" for path, values in sweep.items() for o in values]
        cells[cell_name(prefix, overrides)] = overrides
    if len(cells) != len(sweeps):
        raise StageError("two cells of the grid would have the same name: write their -S values differently.")
    return cells


def _git(root: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return done.stdout.strip() if done.returncode == 0 else None


def target(root: Path, args: argparse.Namespace) -> dict:
    """Where the cells start and land: the git remote, the commit, the DVC remote; refused if a worker could not."""
    url = _git(root, "remote", "get-url", args.git_remote)
    if url is None:
        raise StageError(f"there is no git remote '{args.git_remote}': add one that every worker reaches, push to it.")
    url = str((root / url).resolve()) if (root / url).exists() else url
    sha = _git(root, "rev-parse", "--verify", "--quiet", f"{args.rev}^{{commit}}")
    if sha is None:
        raise StageError(f"--rev {args.rev!r} is not a commit of this repository.")
    if sha == _git(root, "rev-parse", "HEAD") and (changes := _git(root, "status", "--porcelain")):
        raise StageError(
            f"the working tree has uncommitted changes ({changes.splitlines()[0]}...): the workers "
            "clone the git remote and would not see them; commit and push them, then rerun."
        )
    heads = _git(root, "ls-remote", url, "refs/heads/*", "refs/tags/*")
    if heads is None:
        raise StageError(f"cannot read the git remote {url}: check the URL, the network and your credentials.")
    if not any(_git(root, "merge-base", "--is-ancestor", sha, head) is not None for head in heads.split()[::2]):
        raise StageError(f"commit {sha[:7]} is on no branch or tag of the git remote {url}: push it, then rerun.")
    with Repo(str(root)) as repo:  # the remote's URL and its committed options: the workers' own credentials
        remotes, name = repo.config["remote"], args.dvc_remote or repo.config["core"].get("remote")
        committed = repo.config.load_one("repo").get("remote", {}).get(name, {})
    if name not in remotes:
        raise StageError(
            f"no DVC remote {name or '(no default)'} (this project has {', '.join(remotes) or 'none'}): the cells share "
            "data and run cache through one that every worker reaches: dvc remote add -d storage <url>, commit, push."
        )
    options = {key: value for key, value in committed.items() if key != "url"}
    return {"git_url": url, "sha": sha, "dvc_remote": name, "dvc_url": remotes[name]["url"], "options": options}


def summarize(root: Path, args: argparse.Namespace, sha: str, cells: dict, results: dict, logs: Path) -> None:
    """Pull the cells' experiments here; print and save a row per cell with the metrics the remote has for it."""
    if names := [f"refs/exps/{sha[:2]}/{sha[2:]}/{name}" for name in cells if results[name]["status"] != FAILED]:
        with Repo(str(root)) as repo:
            repo.experiments.pull(args.git_remote, names, force=True, pull_cache=args.pull_data)
    shown = {row["Experiment"]: row for row in dvc.api.exp_show(repo=str(root), revs=sha) if row.get("Experiment")}
    metric = re.compile(rf"(?:^|\.){re.escape(args.metric)}$")
    records, rows = [], []
    for name in cells:
        metrics = {k: v for k, v in shown.get(name, {}).items() if metric.search(k) and isinstance(v, float)}
        records.append(record := results[name] | {"metrics": metrics})
        values = " ".join(f"{metric.sub('', key)}={value:.4f}" for key, value in metrics.items())
        rows.append([name, record["status"], values, record.get("seconds"), record.get("host")])
    text = tabulate(rows, ["cell", "status", args.metric, "wall s", "host"], floatfmt=".0f", missingval="-")
    print(f"{text}\nlogs: {logs}", flush=True)
    (logs / "summary.txt").write_text(text + "\n")
    (logs / "summary.json").write_text(json.dumps(records, indent=2) + "\n")
    failed = [name for name in cells if results[name]["status"] == FAILED]
    for name in failed:
        print(f"\n--- {name} (-S {' '.join(cells[name])}): {results[name]['reason']}")
    if failed:
        raise StageError(
            f"{len(failed)} of {len(cells)} cells failed (why, above; their logs in {logs}). The others landed. "
            "Fix the cause and rerun the same command: it runs only the missing cells."
        )


def run(args: argparse.Namespace) -> None:
    """Check everything, run the cells not yet on the git remote, pull them all here, print a summary."""
    root = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel") or Path.cwd())
    if not (root / ".dvc").is_dir() or not (root / ".git").exists():
        raise StageError(f"{root} is not a git + DVC project: run python -m tools.grid in a clone of the project.")
    default_logs = root / ".dvc" / "tmp" / "grid" / f"{args.prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    logs = (args.logs or default_logs).resolve()
    for disk in (root, Path(tempfile.gettempdir())):
        if (free := shutil.disk_usage(disk).free) < NO_SPACE_BYTES:
            raise StageError(f"no space left on the disk of {disk} ({free / 2**20:.0f} MiB free): free some, rerun.")
    cells = plan_cells(args.prefix, args.set_param)
    where = target(root, args)
    if _git(root, "diff", "--quiet", where["sha"], "--", *STAGE_CODE) is None:
        print(f"params not checked up front: the stages' code at {where['sha'][:7]} is not this checkout's.")
    elif (params_text := _git(root, "show", f"{where['sha']}:{PARAMS_FILE.as_posix()}")) is None:
        raise StageError(f"commit {where['sha'][:7]} has no {PARAMS_FILE}: its stages would have no params to read.")
    else:
        check_cells(root, params_text, cells)
    try:
        with Repo(str(root)) as repo:
            listed = repo.experiments.ls(rev=where["sha"], git_remote=args.git_remote)
    except Exception as error:  # scmrepo's errors: network, credentials
        raise StageError(f"cannot list the experiments on the git remote {where['git_url']}: {error}") from None
    on_remote = {name for names in listed.values() for name, _ in names}
    todo = {name: overrides for name, overrides in cells.items() if name not in on_remote}
    print(
        f"grid {args.prefix}: {len(cells)} cells from {where['sha'][:7]}, {len(cells) - len(todo)} already on the "
        f"git remote; logs in {logs}",
        flush=True,
    )
    logs.mkdir(parents=True, exist_ok=True)
    results = {name: {"name": name, "status": ALREADY} for name in cells if name in on_remote}
    if todo:
        workers = args.workers or (len(todo) if args.jobqueue else os.cpu_count())
        with connect(args.scheduler, args.jobqueue, workers, args.connect_timeout, logs) as client:
            check_workers(client, where)
            results |= run_cells(client, todo, where, args.cell_timeout, args.attempts, logs)
    summarize(root, args, where["sha"], cells, results, logs)


def main(argv: list[str] | None = None) -> None:
    """The command; SIGINT or SIGTERM (a terminal's Ctrl-C, or to this PID alone) stops the running cells, and the
    command ends with one line saying what became of them (run_cells)."""
    args = parse_args(argv)
    with interruptible("no cell had started"):
        try:
            run(args)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise StageError(
                f"no space left on the disk of {error.filename}: free some space there, then rerun."
            ) from None
