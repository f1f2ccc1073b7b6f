"""Validate the grid's cells with the params code of one commit, in a checkout of that commit.

    python -c "<this file's source>" cells.json invalid.json      (run by tools/grid/plan.py)

cells.json maps each cell's name to the params.yaml it would run with and the top-level keys its -S
options set. Each stage of the commit's dvc.yaml that lists one of those keys under `params:` loads
its own Params from that file, as the stage does first (a stage that reads none of them sees the
commit's own values); the names that train and evaluate look up are checked if the cell sets them:
architectures (the module files of imdb_rnn/architectures/), losses and poolings. invalid.json gets
each refused cell's name and the first message. The working directory is the checkout, so the
imports are the commit's modules, and only those of the stages concerned.
"""

import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

from imdb_rnn.common import StageError
from imdb_rnn.params import check_choice, load_params

NAMED = {  # a key whose value names registry entries: where the commit lists them
    "loss": ("imdb_rnn.losses", "LOSS_FUNCTIONS"),
    "pooling": ("imdb_rnn.classifier", "POOLINGS"),
}


def stage_keys() -> dict[str, set[str]]:
    """{stage module: the top-level params.yaml keys that dvc.yaml lists for it} for every `python -m stages.<name>`."""
    keys: dict[str, set[str]] = {}
    for stage in YAML(typ="safe", pure=True).load(Path("dvc.yaml").read_text())["stages"].values():
        module = re.search(r"-m\s+(stages\.\w+)", stage["cmd"]).group(1)
        listed = (entry.split(".")[0] for entry in stage.get("params", []) if isinstance(entry, str))
        keys.setdefault(module, set()).update(listed)
    return keys


def check_names(params_file: Path, keys: set[str]) -> None:
    """The architecture, loss and pooling names the cell sets, against the commit's registries."""
    raw = YAML(typ="safe", pure=True).load(params_file.read_text())
    if "archs" in keys and isinstance(raw.get("archs"), list):
        architectures = [module.name for module in pkgutil.iter_modules(["imdb_rnn/architectures"])]
        for arch in raw["archs"]:
            check_choice("archs", arch, architectures, params_file)
    for key, (module, attribute) in NAMED.items():
        if key in keys:
            check_choice(key, raw.get(key), getattr(importlib.import_module(module), attribute), params_file)


def main(cells_file: str, report_file: str) -> None:
    stages = stage_keys()
    invalid = {}
    for name, cell in json.loads(Path(cells_file).read_text()).items():
        path, keys = Path(cell["params"]), set(cell["keys"])
        try:
            for module in sorted(module for module, listed in stages.items() if listed & keys):
                load_params(importlib.import_module(module).Params, path)
            check_names(path, keys)
        except StageError as error:
            invalid[name] = str(error)
    Path(report_file).write_text(json.dumps(invalid))


if __name__ == "__main__":
    main(*sys.argv[1:])
