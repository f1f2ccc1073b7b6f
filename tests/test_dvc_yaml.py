"""dvc.yaml against the code: every stage depends on each project module it imports, and writes where paths.py says."""

import ast
import re

import pytest
import yaml
from conftest import PROJECT

from imdb_rnn import paths

STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def project_imports(module: str) -> set[str]:
    """`module` (e.g. "stages.train") and every project module it imports, directly or not, as file paths."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = f"{name.replace('.', '/')}.py"
        if path in seen or not (PROJECT / path).exists():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse((PROJECT / path).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "stages":
                pending += [f"stages.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stages."):
                pending.append(node.module)
            elif isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names if alias.name.startswith("stages.")]
    return seen


def missing_deps(stage: dict) -> set[str]:
    """The project modules that a stage's command imports but its deps do not list (and listed ones it does not import)."""
    module = re.fullmatch(r"python -m (stages\.\w+)\b.*", stage["cmd"]).group(1)
    listed = {dep for dep in stage["deps"] if dep.startswith("stages/")}
    return project_imports(module) ^ listed


@pytest.mark.parametrize("name", STAGES)
def test_every_imported_project_module_is_a_dependency(name):
    assert missing_deps(STAGES[name]) == set()


def test_the_check_catches_a_missing_module():
    stage = {**STAGES["evaluate"], "deps": [dep for dep in STAGES["evaluate"]["deps"] if dep != "imdb_rnn/loops.py"]}
    assert missing_deps(stage) == {"imdb_rnn/loops.py"}


def outputs(stage: dict) -> list[str]:
    declared = [*stage.get("outs", []), *stage.get("metrics", [])]
    names = [next(iter(out)) if isinstance(out, dict) else out for out in declared]
    return [name.replace("${item.arch}", "gru").replace("${item.seed}", "7") for name in names]


def test_outputs_are_where_paths_py_puts_them():
    expected = {
        "download": [paths.RAW_ARCHIVE],
        "tokenize": [paths.PROCESSED_DIR],
        "train": [paths.model_file("gru", 7), paths.train_log_dir("gru", 7)],
        "evaluate": [paths.test_metrics_file("gru", 7)],
        "aggregate": [paths.SUMMARY_FILE],
        "plot": [paths.PLOTS_DIR],
        "report": [paths.REPORT_FILE],
    }
    assert {name: outputs(stage) for name, stage in STAGES.items()} == {
        name: [path.as_posix() for path in found] for name, found in expected.items()
    }


def test_train_and_evaluate_take_arch_and_seed_from_the_matrix():
    for name in ("train", "evaluate"):
        assert STAGES[name]["matrix"] == {"arch": "${archs}", "seed": "${seeds}"}
        assert STAGES[name]["cmd"].endswith("${item.arch} ${item.seed}")
        assert "seeds" not in STAGES[name].get("params", [])  # adding a seed reruns no existing run


def test_the_plot_templates_exist():
    templates = {
        plot["template"]
        for entry in yaml.safe_load((PROJECT / "dvc.yaml").read_text())["plots"]
        if isinstance(entry, dict)
        for plot in entry.values()
    }
    for template in templates:
        assert (PROJECT / ".dvc" / "plots" / f"{template}.json").exists()
