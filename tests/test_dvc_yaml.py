"""dvc.yaml against the code: each stage depends on the library folders and files it imports, writes where
paths.py says, and lists the params its Params class reads.

A stage's code deps are derived from its imports (LIBRARY_FOLDERS, dependency), not restated stage by stage."""

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT

from imdb_rnn import architectures
from imdb_rnn.core import paths

PIPELINE = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]
PACKAGES = ("stages", "imdb_rnn", "tools")
# A stage depends on a library folder (a package of imdb_rnn: core, training, analysis) as a whole, and on any other
# project module (its script, its architecture's file, a module directly under imdb_rnn) file by file.
LIBRARY_FOLDERS = {
    package.parent.relative_to(PROJECT).as_posix() for package in (PROJECT / "imdb_rnn").glob("*/__init__.py")
} - {"imdb_rnn/architectures"}


def module_file(name: str) -> str | None:
    """The project file of module `name` (a package's __init__.py unless empty), or None if there is none."""
    path = name.replace(".", "/")
    for candidate in (f"{path}.py", f"{path}/__init__.py"):
        if (PROJECT / candidate).is_file() and (PROJECT / candidate).stat().st_size:
            return candidate
    return None


def run_time_imports(path: str) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a file, but those under `if TYPE_CHECKING:` (never run)."""
    found, pending = [], list(ast.parse((PROJECT / path).read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending += list(ast.iter_child_nodes(node))
    return found


def project_imports(module: str) -> set[str]:
    """`module` and every project module it imports, directly or not, as file paths."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        if path.endswith("__init__.py") and name.count("."):
            pending.append(name.rsplit(".", 1)[0])  # importing a.b imports a
        for node in run_time_imports(path):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                pending.append(node.module)
                pending += [f"{node.module}.{alias.name}" for alias in node.names]  # `from pkg import module`
            elif isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES]
    return seen


def dependency(path: str) -> str:
    """What dvc.yaml lists for a project module: the module itself, or the library folder it lives in."""
    folder = path.rsplit("/", 1)[0]
    return folder if folder in LIBRARY_FOLDERS else path


def stage_module(stage: dict) -> str:
    return re.fullmatch(r"python -m (stages\.\w+)\b.*", stage["cmd"]).group(1)


def expected_deps(stage: dict, arch: str) -> set[str]:
    """What a stage imports, as deps; a training run also imports its own architecture's module (loaded by name)."""
    found = project_imports(stage_module(stage))
    if "${item.arch}" in stage["cmd"]:
        found |= project_imports(f"imdb_rnn.architectures.{arch}")
    return {dependency(path) for path in found}


def listed_deps(stage: dict, arch: str) -> set[str]:
    """The code a stage lists: modules and library folders (not data, nor the report's template)."""
    code = [dep for dep in stage["deps"] if dep.split("/")[0] in PACKAGES and Path(dep).suffix in ("", ".py")]
    return {dep.replace("${item.arch}", arch) for dep in code}


def test_the_report_depends_on_its_template():
    from stages import report

    assert report.TEMPLATE.relative_to(PROJECT).as_posix() in STAGES["report"]["deps"]


@pytest.mark.parametrize("name", STAGES)
def test_a_stage_that_imports_the_claims_loader_depends_on_claims_yaml(name):
    from imdb_rnn.analysis import claims

    reads = "imdb_rnn/analysis/claims.py" in project_imports(stage_module(STAGES[name]))
    assert (claims.CLAIMS_FILE.as_posix() in STAGES[name]["deps"]) == reads


@pytest.mark.parametrize("name", STAGES)
@pytest.mark.parametrize("arch", architectures.NAMES)
def test_every_imported_project_module_is_a_dependency(name, arch):
    stage = STAGES[name]
    assert listed_deps(stage, arch) == expected_deps(stage, arch)


def test_a_training_run_reads_as_its_data_its_script_and_three_library_parts():
    assert len(STAGES["train"]["deps"]) <= 6, STAGES["train"]["deps"]


def test_a_training_run_depends_on_its_own_architecture_only():
    for name in ("train", "evaluate"):
        deps = STAGES[name]["deps"]
        modules = [dep for dep in deps if dep.startswith("imdb_rnn/architectures/")]
        assert modules == ["imdb_rnn/architectures/__init__.py", "imdb_rnn/architectures/${item.arch}.py"]


def imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]


def test_only_train_and_evaluate_import_torch():
    for name, stage in STAGES.items():
        imported = {
            module.split(".")[0]
            for path in project_imports(stage_module(stage))
            for node in run_time_imports(path)
            for module in imported_names(node)
        }
        assert ("torch" in imported) == (name in ("train", "evaluate")), name


def test_the_check_catches_a_missing_folder():
    stage = {**STAGES["evaluate"], "deps": [dep for dep in STAGES["evaluate"]["deps"] if dep != "imdb_rnn/training"]}
    assert expected_deps(stage, "gru") - listed_deps(stage, "gru") == {"imdb_rnn/training"}


@pytest.mark.parametrize("name", STAGES)
def test_each_stage_lists_the_params_its_schema_reads(name):
    schema = importlib.import_module(stage_module(STAGES[name])).Params
    assert sorted(STAGES[name].get("params", [])) == sorted(schema.model_fields)


def outputs(stage: dict) -> list[str]:
    declared = [*stage.get("outs", []), *stage.get("metrics", [])]
    names = [next(iter(out)) if isinstance(out, dict) else out for out in declared]
    return sorted(name.replace("${item.arch}", "gru").replace("${item.seed}", "7") for name in names)


def test_outputs_are_where_paths_py_puts_them():
    expected = {
        "download": [paths.RAW_ARCHIVE, paths.DATA_SOURCE_FILE],
        "tokenize": [paths.PROCESSED_DIR, paths.SPLITS_FILE],
        "train": [paths.model_file("gru", 7), paths.train_log_dir("gru", 7)],
        "evaluate": [paths.test_metrics_file("gru", 7), paths.predictions_file("gru", 7)],
        "baseline": [paths.BASELINE_METRICS_FILE, paths.BASELINE_CORRECT_FILE],
        "aggregate": [paths.SUMMARY_FILE, paths.ESTIMATES_FILE, paths.CURVES_FILE, paths.RUNS_FILE, paths.CORRECT_FILE],
        "plot": [paths.PLOTS_DIR],
        "report": [paths.REPORT_FILE],
    }
    assert {name: outputs(stage) for name, stage in STAGES.items()} == {
        name: sorted(path.as_posix() for path in found) for name, found in expected.items()
    }


def test_train_and_evaluate_take_arch_and_seed_from_the_matrix():
    for name in ("train", "evaluate"):
        assert STAGES[name]["matrix"] == {"arch": "${archs}", "seed": "${seeds}"}
        assert STAGES[name]["cmd"].endswith("${item.arch} ${item.seed}")
        assert "seeds" not in STAGES[name].get("params", [])  # adding a seed reruns no existing run


def test_the_plot_templates_exist():
    templates = {plot["template"] for entry in PIPELINE["plots"] if isinstance(entry, dict) for plot in entry.values()}
    for template in templates:
        assert (PROJECT / ".dvc" / "plots" / f"{template}.json").exists()


def test_every_key_of_params_yaml_is_read_by_a_stage():
    """A misspelt key in params.yaml would be read by no stage (DVC itself refuses a misspelt -S key)."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    assert set(params) == {key for stage in STAGES.values() for key in stage.get("params", [])}
