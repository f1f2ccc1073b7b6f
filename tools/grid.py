"""Run a grid of DVC experiments on a Dask cluster; each cell lands as a DVC experiment of this repository.

    python -m tools.grid --prefix h128 -S hidden=64,128 -S 'seeds=[0],[1],[2]' [--scheduler tcp://host:8786]

The -S options are DVC's own (`dvc exp run --queue -S`): `key=a,b` sweeps a key, the grid is the
product of the sweeps. Each cell is one Dask task: on a worker it clones the git remote at the
revision into a scratch directory, runs `dvc exp run --pull -n <name> -S ...` there (a stage whose
exact inputs already ran anywhere is restored from DVC's run cache on the DVC remote instead of
rerun), pushes the data and run cache to the DVC remote and then the experiment's ref to the git
remote, and returns its metrics. Cells already on the git remote are skipped, so rerunning a grid
runs only what is missing. The driver then `dvc exp pull`s the cells here, for `dvc exp show`,
`dvc plots diff` and `dvc exp apply`. See docs/grid.md.
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psutil
from distributed import Client, LocalCluster, as_completed
from dvc.exceptions import InvalidArgumentError
from dvc.repo import Repo
from dvc.repo.experiments.refs import ExpRefInfo
from dvc.utils.cli_parse import to_path_overrides
from dvc.utils.hydra import apply_overrides, get_hydra_sweeps
from hydra.errors import HydraException
from tabulate import tabulate

from imdb_rnn import paths
from imdb_rnn.common import StageError, run_stage
from imdb_rnn.params import load_params
from stages import aggregate, download, evaluate, plot, report, tokenize, train

STAGE_PARAMS = [stage.Params for stage in (download, tokenize, train, evaluate, aggregate, plot, report)]

PARAMS_FILE = paths.PARAMS_FILE.as_posix()  # DVC's default params file: -S keys without a `file:` prefix go there
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
LOG_LINES = 40
ALLOWED_FAILURES = 2  # local cluster: a cell whose worker dies a third time is reported failed (KilledWorker)
MAX_VALUE_CHARS = 24  # a longer -S value is written as a hash in the experiment name
MAX_NAME_CHARS = 120
STATUS = {"ok": "ok", "failed": "FAILED", "skipped": "already on the remote"}


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its experiment name and its `dvc exp run -S` options."""

    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """Where the workers get the code and put the results."""

    git_url: str  # the git remote, as the workers clone it
    sha: str  # the commit every cell starts from
    dvc_remote: str  # the DVC remote's name and URL, made the default remote of each clone
    dvc_url: str


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
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*", args.prefix):
        parser.error(f"--prefix {args.prefix!r}: use letters, digits, '_', '+' and '-' (it starts git ref names)")
    return args


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


# --- the grid's cells ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """`text` fit for a git ref name: each run of characters other than letters, digits, '.', '_', '+' is '-'."""
    return re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._+]+", "-", text)).strip("-.")


def cell_name(prefix: str, overrides: tuple[str, ...]) -> str:
    """`<prefix>-<key>_<value>-...`, one part per -S option of the cell: the same options give the same name."""
    parts = [prefix]
    for override in overrides:
        key, _, value = override.partition("=")
        slug = _slug(value)
        if len(slug) > MAX_VALUE_CHARS:
            slug = hashlib.sha1(value.encode()).hexdigest()[:8]
        parts.append(f"{_slug(key)}_{slug}")
    name = "-".join(parts)
    if len(name) > MAX_NAME_CHARS:
        name = f"{prefix}-{hashlib.sha1(' '.join(overrides).encode()).hexdigest()[:12]}"
    return name


def plan_cells(prefix: str, set_params: list[str]) -> list[Cell]:
    """The grid's cells: the product of the -S sweeps, expanded by DVC's own parser (Hydra's override grammar)."""
    try:
        sweeps = get_hydra_sweeps(to_path_overrides(set_params))
    except HydraException as error:
        raise StageError(f"cannot parse the -S options {set_params}: {error}") from None
    cells = []
    for sweep in sweeps:
        overrides = tuple(
            override if path == PARAMS_FILE else f"{path}:{override}"
            for path, path_overrides in sweep.items()
            for override in path_overrides
        )
        cells.append(Cell(cell_name(prefix, overrides), overrides))
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise StageError(f"two cells of the grid would both be named {twice}: write their -S values differently.")
    return cells


def validate_cells(root: Path, sha: str, cells: list[Cell]) -> None:
    """Apply each cell's -S options to a copy of the params files at `sha`, as `dvc exp run` will, and validate."""
    with tempfile.TemporaryDirectory() as scratch:
        for cell in cells:
            for path, overrides in to_path_overrides(cell.overrides).items():
                shown = _git(root, "show", f"{sha}:{path}")
                if shown.returncode != 0:
                    raise StageError(
                        f"cell {cell.name}: {path} is not in commit {sha[:7]}, so -S cannot set keys in it."
                    )
                copy = Path(scratch, path)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text(shown.stdout)
                try:
                    apply_overrides(copy, overrides)
                except InvalidArgumentError as error:
                    reason = str(error.__cause__ or error).splitlines()[0].rstrip(".")
                    raise StageError(
                        f"cell {cell.name}: -S {' '.join(overrides)} does not apply to {path}: {reason}. "
                        f"Every key must already be in {path} (check its spelling); values follow DVC's -S syntax."
                    ) from None
                if path == PARAMS_FILE:
                    try:
                        for schema in STAGE_PARAMS:
                            load_params(schema, copy)
                    except StageError as error:
                        message = str(error).replace(str(copy), path)
                        raise StageError(f"cell {cell.name} (-S {' '.join(cell.overrides)}): {message}") from None


# --- pre-flight, on the driver ---------------------------------------------------------------------


def find_root() -> Path:
    """The root of the git + DVC project around the working directory."""
    result = _git(Path.cwd(), "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise StageError(
            f"{Path.cwd()} is not inside a git repository. The grid's workers clone the project from its git "
            "remote: run python -m tools.grid in a clone of the project (git clone <url> && cd <dir>)."
        )
    root = Path(result.stdout.strip())
    if not (root / ".dvc").is_dir():
        raise StageError(f"{root} is not a DVC project (no .dvc/): run python -m tools.grid in the project's root.")
    return root


def git_remote_url(root: Path, name: str) -> str:
    """The URL of git remote `name`; a relative local path is made absolute, for the workers."""
    remotes = _git(root, "remote").stdout.split()
    if not remotes:
        raise StageError(
            "this repository has no git remote. Each worker clones the project from a git remote and pushes "
            "its experiment there: add one that every worker can reach and push to it "
            "(git remote add origin <url> && git push -u origin HEAD), then rerun."
        )
    if name not in remotes:
        raise StageError(
            f"there is no git remote '{name}' (this repository has {', '.join(remotes)}): pass --git-remote."
        )
    url = _git(root, "remote", "get-url", name).stdout.strip()
    return str((root / url).resolve()) if (root / url).exists() else url


def dvc_remote(root: Path, name: str | None) -> tuple[str, str]:
    """The name and URL of the DVC remote the cells share: `name`, or the default remote."""
    with Repo(str(root)) as repo:
        remotes = {remote: section["url"] for remote, section in repo.config["remote"].items()}
        name = name or repo.config["core"].get("remote")
    if not remotes:
        raise StageError(
            "no DVC remote is configured (dvc remote list is empty). The cells share data, models and the run "
            "cache through one: add one that every worker can reach and commit it "
            "(dvc remote add -d storage s3://bucket/path, or on one machine a directory: "
            "dvc remote add -d storage /path/to/dir; then git add .dvc/config && git commit && git push), "
            "then rerun."
        )
    if name is None:
        raise StageError(
            f"there is no default DVC remote (this project has {', '.join(remotes)}): "
            "set one with dvc remote default <name>, or pass --dvc-remote <name>."
        )
    if name not in remotes:
        raise StageError(f"there is no DVC remote '{name}' (this project has {', '.join(remotes)}): pass --dvc-remote.")
    return name, remotes[name]


def resolve_revision(root: Path, rev: str, git_url: str) -> str:
    """The commit `rev` names; refused if it is HEAD with uncommitted changes, or if the git remote lacks it."""
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if result.returncode != 0:
        raise StageError(f"--rev {rev!r} is not a commit of this repository.")
    sha = result.stdout.strip()
    changes = _git(root, "status", "--porcelain").stdout.splitlines()
    if changes and sha == _git(root, "rev-parse", "HEAD").stdout.strip():
        raise StageError(
            f"the working tree has uncommitted changes ({'; '.join(changes[:5])}). The workers clone the git "
            "remote and would not see them: commit and push them (or stash them, or add the files to "
            ".gitignore), then rerun."
        )
    listed = _git(root, "ls-remote", "--heads", "--tags", git_url)
    if listed.returncode != 0:
        raise StageError(f"cannot read the git remote {git_url}: {listed.stderr.strip()}")
    heads = [line.split()[0] for line in listed.stdout.splitlines()]
    if not any(_git(root, "merge-base", "--is-ancestor", sha, head).returncode == 0 for head in heads):
        raise StageError(
            f"commit {sha[:7]} ({rev}) is on no branch or tag of the git remote {git_url}, so the workers could "
            "not check it out: push it (git push), then rerun."
        )
    return sha


# --- a cell, on a worker ---------------------------------------------------------------------------
# Under `python -m tools.grid` these functions live in __main__, which Dask sends by value
# (cloudpickle): a worker needs git and the project's Python environment, not a checkout of it.
# So they use nothing of stages/, and what they compute about the machine they compute there.


def remote_experiments(git_url: str, sha: str) -> set[str]:
    """The names of the experiments of baseline `sha` on the git remote."""
    pattern = f"{ExpRefInfo(baseline_sha=sha)}/*"
    listed = subprocess.run(["git", "ls-remote", git_url, pattern], capture_output=True, text=True)
    if listed.returncode != 0:
        raise RuntimeError(f"git ls-remote {git_url} failed: {listed.stderr.strip()}")
    return {ExpRefInfo.from_ref(line.split()[1]).name for line in listed.stdout.splitlines()}


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]  # the worker's own Python: evaluated there


def _env() -> dict[str, str]:
    """A cell's commands: one thread each (a worker runs one cell per core), this Python first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, **ONE_THREAD, "PATH": path, "GIT_TERMINAL_PROMPT": "0"}


def _run(command: list[str], cwd: Path, log: TextIO) -> tuple[int, float]:
    """Run `command` with its output appended to `log`; its exit status and peak RSS in MiB, its children's included."""
    log.write(f"$ {shlex.join(command)}\n")
    log.flush()
    with subprocess.Popen(command, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log) as process:
        _, status, usage = os.wait4(process.pid, 0)  # this command's rusage: the worker's total spans all its cells
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)  # bytes or KiB


def _flatten(data: dict, prefix: str) -> dict[str, float]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


def _metrics(clone: Path) -> dict[str, float]:
    """Every numeric metric of the clone's workspace, as {'<file>:<key>': value} (`dvc metrics show`)."""
    shown = subprocess.run(_dvc("metrics", "show", "--json"), cwd=clone, env=_env(), capture_output=True, text=True)
    if shown.returncode != 0 or not shown.stdout.strip():
        return {}
    files = next(iter(json.loads(shown.stdout).values()), {}).get("data", {})
    return {
        key: value for path, file in files.items() for key, value in _flatten(file.get("data", {}), f"{path}:").items()
    }


def _cell_commands(cell: Cell, target: Target, clone: Path) -> list[tuple[Path, list[str]]]:
    """(directory, command), in order; the ref goes to the git remote last, once its data is on the DVC remote."""
    sets = [arg for override in cell.overrides for arg in ("-S", override)]
    return [
        (clone.parent, ["git", "clone", "--quiet", "--no-checkout", target.git_url, clone.name]),
        (clone, ["git", "checkout", "--quiet", "--detach", target.sha]),
        (clone, _dvc("remote", "add", "--local", "--force", "--default", target.dvc_remote, target.dvc_url)),
        (clone, _dvc("exp", "run", "--pull", "-n", cell.name, *sets)),
        (clone, _dvc("push", "--run-cache")),
        (clone, _dvc("exp", "push", "--no-cache", "origin", cell.name)),
    ]


def run_cell(cell: Cell, target: Target) -> dict:
    """Run one cell in a scratch clone and push it. A failing command gives status 'failed' and its log; no raise."""
    start = time.monotonic()
    result = {"name": cell.name, "status": "skipped", "metrics": {}, "log": "", "host": socket.gethostname()}
    if cell.name not in remote_experiments(target.git_url, target.sha):  # on the remote: a rerun after a crash
        scratch = Path(tempfile.mkdtemp(prefix="grid-"))
        try:
            status, peak = 0, 0.0
            with (scratch / "log").open("w") as log:
                for cwd, command in _cell_commands(cell, target, scratch / "repo"):
                    status, rss = _run(command, cwd, log)
                    peak = max(peak, rss)
                    if status != 0:
                        break
            lines = (scratch / "log").read_text(errors="replace").splitlines()
            result |= {"status": "ok" if status == 0 else "failed", "log": "\n".join(lines[-LOG_LINES:])}
            result |= {"metrics": _metrics(scratch / "repo") if status == 0 else {}, "peak_rss_mib": peak}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    result |= {"seconds": time.monotonic() - start, "worker_rss_mib": psutil.Process().memory_info().rss / 2**20}
    return result


# --- the grid, on the driver -----------------------------------------------------------------------


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at `scheduler`, or of a local cluster of `workers` single-threaded processes."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES},
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"local cluster: {workers} single-threaded workers", flush=True)
        yield client


def run_grid(client: Client, cells: list[Cell], target: Target) -> list[dict]:
    """One task per cell, a line printed as each ends; a task that raised twice or whose worker kept dying fails."""
    futures = {client.submit(run_cell, cell, target, pure=False, retries=1): cell for cell in cells}
    results = []
    for done, future in enumerate(as_completed(futures), 1):
        try:
            result = future.result()
        except Exception as error:  # KilledWorker after ALLOWED_FAILURES deaths, or the task raised
            result = {"name": futures[future].name, "status": "failed", "log": f"{type(error).__name__}: {error}"}
        seconds = f" in {result['seconds']:.0f} s" if "seconds" in result else ""
        print(f"[{done}/{len(cells)}] {result['name']}: {STATUS[result['status']]}{seconds}", flush=True)
        results.append(result)
    return results


def pull_experiments(root: Path, git_remote: str, dvc_remote: str, refs: list[str]) -> None:
    """`dvc exp pull` the experiments with their data, by full ref (a name alone may exist on several baselines)."""
    if subprocess.run(_dvc("exp", "pull", "-r", dvc_remote, git_remote, *refs), cwd=root).returncode != 0:
        raise StageError(
            f"dvc exp pull failed (see above). The experiments are on the git remote '{git_remote}': "
            f"pull them again with dvc exp pull {git_remote} <name>."
        )


def summary(results: list[dict], metric: str) -> str:
    """One row per cell: name, status, its metrics whose key ends with `metric`, wall seconds, peak RSS, host."""
    rows = []
    for result in results:
        shown = []
        for key, value in result.get("metrics", {}).items():
            name = key.partition(":")[2]
            if name == metric or name.endswith(f".{metric}"):
                shown.append(f"{name.removesuffix(f'.{metric}')}={value:.4f}")
        numbers = [result.get(key) for key in ("seconds", "peak_rss_mib", "worker_rss_mib")]
        rows.append(
            [result["name"], STATUS[result["status"]], " ".join(shown)]
            + [None if number is None else round(number) for number in numbers]
            + [result.get("host")]
        )
    headers = ["cell", "status", metric, "wall s", "peak RSS MiB", "worker RSS MiB", "host"]
    return tabulate(rows, headers=headers, missingval="-")


def exp_ref(sha: str, name: str) -> str:
    """The git ref of experiment `name` of baseline `sha`: refs/exps/<sha[:2]>/<sha[2:]>/<name>."""
    return str(ExpRefInfo(baseline_sha=sha, name=name))


def preflight(args: argparse.Namespace) -> tuple[Path, Target, list[Cell]]:
    """The project's root, where the workers get the code and put the results, and the validated cells."""
    root = find_root()
    git_url = git_remote_url(root, args.git_remote)
    remote, remote_url = dvc_remote(root, args.dvc_remote)
    target = Target(git_url, resolve_revision(root, args.rev, git_url), remote, remote_url)
    cells = plan_cells(args.prefix, args.set_param)
    validate_cells(root, target.sha, cells)
    return root, target, cells


def report_failures(cells: list[Cell], results: dict[str, dict]) -> None:
    """Print the end of the log of each failed cell, then raise StageError if there is one."""
    failed = [cell for cell in cells if results[cell.name]["status"] == "failed"]
    for cell in failed:
        print(f"\n--- {cell.name} (-S {' '.join(cell.overrides)}), the end of its log:\n{results[cell.name]['log']}")
    if failed:
        raise StageError(
            f"{len(failed)} of {len(cells)} cells failed: {', '.join(cell.name for cell in failed)} (their logs are "
            "above). The others are experiments of this repository now. Fix the cause and rerun the same command: "
            "it runs only the cells missing from the git remote."
        )


def main(argv: list[str] | None = None) -> None:
    """Check everything, run the cells not yet on the git remote, pull them all here, print a summary."""
    args = parse_args(argv)
    root, target, cells = preflight(args)
    on_remote = remote_experiments(target.git_url, target.sha)
    todo = [cell for cell in cells if cell.name not in on_remote]
    print(
        f"grid {args.prefix}: {len(cells)} cells from {target.sha[:7]}, {len(cells) - len(todo)} already on the git remote"
    )
    results = {cell.name: {"name": cell.name, "status": "skipped"} for cell in cells if cell.name in on_remote}
    if todo:
        with connect(args.scheduler, args.workers) as client:
            results |= {result["name"]: result for result in run_grid(client, todo, target)}
    print(summary([results[cell.name] for cell in cells], args.metric))
    landed = [exp_ref(target.sha, cell.name) for cell in cells if results[cell.name]["status"] != "failed"]
    if landed:
        pull_experiments(root, args.git_remote, target.dvc_remote, landed)
    report_failures(cells, results)


if __name__ == "__main__":
    run_stage(main)
