"""The grid's cells: the product of the -S sweeps, their experiment names, and their validation at --rev.

A cell is checked before any task starts with the code of the commit it will run: the commit's files
are exported to a scratch directory, each cell's -S options are applied to a copy of its params files
exactly as `dvc exp run` applies them, and tools/grid/validator.py runs there (with this Python, but
that commit's stages and architectures): each stage that reads a key the cell sets loads its Params,
and the names the cell sets are checked.
"""

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dvc.exceptions import InvalidArgumentError
from dvc.utils.cli_parse import to_path_overrides
from dvc.utils.hydra import apply_overrides, get_hydra_sweeps
from hydra.errors import HydraException

from imdb_rnn import paths
from imdb_rnn.common import StageError

PARAMS_FILE = paths.PARAMS_FILE.as_posix()  # DVC's default params file: -S keys without a `file:` prefix go there
MAX_VALUE_CHARS = 24  # a longer -S value is written as a hash in the experiment name
MAX_NAME_CHARS = 120
VALIDATOR = Path(__file__).with_name("validator.py").read_text()  # run as `python -c` at --rev
VALIDATION_TIMEOUT_S = 300


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its experiment name and its `dvc exp run -S` options."""

    name: str
    overrides: tuple[str, ...]


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


def export_commit(root: Path, sha: str, target: Path) -> None:
    """The files of commit `sha` (as `git archive` gives them) under `target`."""
    archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=root, capture_output=True)
    if archive.returncode != 0:
        raise StageError(f"git archive {sha[:7]} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")


def _apply(cell: Cell, checkout: Path, copy: Path) -> None:
    """Copy the params files of `checkout` that the cell sets into `copy`, with its -S options applied."""
    for path, overrides in to_path_overrides(cell.overrides).items():
        source = checkout / path
        if not source.is_file():
            raise StageError(f"cell {cell.name}: {path} is not in the commit, so -S cannot set keys in it.")
        target = copy / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
        try:
            apply_overrides(target, overrides)
        except InvalidArgumentError as error:
            reason = str(error.__cause__ or error).splitlines()[0].rstrip(".")
            raise StageError(
                f"cell {cell.name}: -S {' '.join(overrides)} does not apply to {path}: {reason}. "
                f"Every key must already be in {path} (check its spelling); values follow DVC's -S syntax."
            ) from None


def _top_key(override: str) -> str:
    """The top-level params key an override sets: `data` for `data.sources=...`, `x` for `+x=1` or `~x`."""
    return re.match(r"[+~]*([^.=\[]+)", override)[1]


def validate_cells(root: Path, sha: str, cells: list[Cell]) -> None:
    """Refuse, listing every invalid cell, the cells whose params the stages of commit `sha` would refuse."""
    with tempfile.TemporaryDirectory(prefix="grid-validate-") as scratch:
        checkout = Path(scratch, "commit")
        export_commit(root, sha, checkout)
        params, request = {}, {}
        for index, cell in enumerate(cells):
            copy = Path(scratch, "cells", str(index))
            (copy / PARAMS_FILE).parent.mkdir(parents=True, exist_ok=True)
            (copy / PARAMS_FILE).write_text((checkout / PARAMS_FILE).read_text())
            _apply(cell, checkout, copy)
            params[cell.name] = str(copy / PARAMS_FILE)
            keys = [_top_key(override) for override in to_path_overrides(cell.overrides).get(PARAMS_FILE, [])]
            request[cell.name] = {"params": params[cell.name], "keys": keys}
        (Path(scratch) / "cells.json").write_text(json.dumps(request))
        report = Path(scratch, "invalid.json")
        try:
            checked = subprocess.run(
                [sys.executable, "-c", VALIDATOR, str(Path(scratch, "cells.json")), str(report)],
                cwd=checkout,
                capture_output=True,
                text=True,
                timeout=VALIDATION_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            checked = subprocess.CompletedProcess([], 1, "", f"no answer in {VALIDATION_TIMEOUT_S} s")
        if checked.returncode != 0:
            reason = (checked.stderr.strip().splitlines() or ["no output"])[-1]
            raise StageError(
                f"cannot validate the cells with the code of commit {sha[:7]}: {reason}. The grid validates each "
                "cell with the Params class of every stage that dvc.yaml runs (stages/<stage>.py): pass a --rev "
                "whose stages declare them, or fix the commit."
            )
        invalid = json.loads(report.read_text())
    if invalid:
        listed = "\n".join(
            f"cell {name} (-S {' '.join(cell.overrides)}): {invalid[name].replace(params[name], PARAMS_FILE)}"
            for cell in cells
            if (name := cell.name) in invalid
        )
        raise StageError(f"{len(invalid)} of {len(cells)} cells would be refused by the stages of {sha[:7]}:\n{listed}")
