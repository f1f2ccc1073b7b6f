"""Every cell's params, checked before any cell starts, as its stages would check them.

A cell's params are params.yaml with its -S overrides applied by DVC's own function (what `dvc exp run -S`
does), checked with the Params class of each stage of dvc.yaml that reads params (which check every value of
their stage, registry names included), then the matrix's architectures with `check_choice`, as train and
evaluate check theirs. A value that a
stage would refuse in its first milliseconds is refused here instead, before a cluster starts or a job is
submitted: on a batch cluster each such cell would cost a job.
"""

import importlib
import re
import tempfile
from pathlib import Path

import yaml
from dvc.exceptions import InvalidArgumentError
from dvc.utils.cli_parse import to_path_overrides
from dvc.utils.hydra import apply_overrides

from imdb_rnn import architectures
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import StageParams, check_choice, load_params
from imdb_rnn.core.paths import PARAMS_FILE

# The stages and their Params classes: checked here only when this checkout's are the grid's commit's.
STAGE_CODE = ("dvc.yaml", "stages", "imdb_rnn")


def stage_schemas(root: Path) -> list[type[StageParams]]:
    """The Params class of every stage of dvc.yaml that lists params, from the module its command runs."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    modules = (re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1) for stage in stages.values() if "params" in stage)
    return [importlib.import_module(module).Params for module in dict.fromkeys(modules)]


def listed_problems(error: StageError) -> list[str]:
    """The problems of load_params' or check_choice's StageError: its indented lines, one per key."""
    return [line.strip() for line in str(error).splitlines() if line.startswith("  ")]


def cell_problems(path: Path, overrides: list[str], schemas: list[type[StageParams]]) -> list[str]:
    """What the stages would refuse in `path` (params.yaml's content) once `overrides` (a cell's -S) are applied."""
    try:
        apply_overrides(path, to_path_overrides(overrides).get(PARAMS_FILE.as_posix(), []))
    except InvalidArgumentError as error:  # an unknown key, as `dvc exp run -S` refuses it
        return [f"{error}: {' '.join(str(error.__cause__).split())}"]
    problems, checked = [], {}
    for schema in schemas:
        try:
            checked |= load_params(schema, path).model_dump()
        except StageError as error:
            problems += listed_problems(error)
    for arch in checked.get("archs", []):  # the matrix's archs, checked as train and evaluate check theirs
        try:
            check_choice("archs", arch, architectures.NAMES, path)
        except StageError as error:
            problems += listed_problems(error)
    return list(dict.fromkeys(problems))  # stages that share a key refuse its value in the same words


def check_cells(root: Path, params_text: str, cells: dict[str, list[str]]) -> None:
    """StageError listing every cell whose params a stage would refuse: its name, its -S, each key and value."""
    schemas = stage_schemas(root)
    refused = []
    with tempfile.TemporaryDirectory(prefix="grid-params-") as scratch:
        path = Path(scratch) / PARAMS_FILE.name
        for name, overrides in cells.items():
            path.write_text(params_text)
            if problems := cell_problems(path, overrides, schemas):
                refused.append(f"{name} (-S {' '.join(overrides)}):\n    " + "\n    ".join(problems))
    if refused:
        listed = "\n  ".join(refused)
        raise StageError(
            f"{len(refused)} of {len(cells)} cells have params that their stages would refuse, so no cell was "
            f"started:\n  {listed}\nFix those -S values (or params.yaml), then rerun."
        )
