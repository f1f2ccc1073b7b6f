"""DVC's cache against the code: an edit of each project module marks exactly the stages that should rerun.

What should rerun is derived from the imports, as tests/test_dvc_yaml.py derives each stage's deps: the
stages that import the module or another module of its library folder. Tools, benchmarks and tests
shape no result: an edit of them reruns nothing.
"""

import pytest
from conftest import PROJECT, REPRODUCED, TINY_MODEL, copy_project
from test_dvc_yaml import STAGES, dependency, expected_deps

from imdb_rnn.core import paths

NEVER_RERUN = ("tools/", "bench/", "tests/")


def project_modules() -> list[str]:
    """Every non-empty Python file of the project's code, as a path relative to its root."""
    found = []
    for folder in ("stages", "imdb_rnn", "tools", "bench"):
        found += [
            path.relative_to(PROJECT).as_posix()
            for path in sorted((PROJECT / folder).rglob("*.py"))
            if path.stat().st_size and "__pycache__" not in path.parts
        ]
    return found


def should_rerun(module: str) -> set[str]:
    """The stages of the reproduced project (its archs, one seed) whose derived deps hold `module`."""
    if module.startswith(NEVER_RERUN):
        return set()
    found = set()
    for name, stage in STAGES.items():
        if "matrix" not in stage:
            found |= {name} if dependency(module) in expected_deps(stage, "") else set()
            continue
        for arch in REPRODUCED["archs"]:
            if dependency(module) in expected_deps(stage, arch):
                found |= {f"{name}@{paths.run_name(arch, seed)}" for seed in TINY_MODEL["seeds"]}
    return found


def test_the_derivation_reruns_every_stage_of_a_folder_and_a_run_of_its_own_architecture():
    runs = [f"{stage}@{paths.run_name(arch, 0)}" for stage in ("train", "evaluate") for arch in REPRODUCED["archs"]]
    every_stage = {"download", "tokenize", "baseline", *runs, "aggregate", "plot", "report"}
    assert should_rerun("imdb_rnn/core/text.py") == every_stage
    assert should_rerun("imdb_rnn/architectures/rnn.py") == {"train@rnn-0", "evaluate@rnn-0"}
    assert should_rerun("imdb_rnn/architectures/gru.py") == set()  # not among the reproduced project's archs


@pytest.fixture(scope="module")
def pipeline(reproduced, tmp_path_factory):
    """A copy of a tiny project whose whole pipeline ran once; returns its root and its DVC repo."""
    from dvc.repo import Repo

    root = copy_project(reproduced, tmp_path_factory.mktemp("cache") / "project")
    with Repo(str(root)) as repo:
        assert repo.status() == {}
        yield root, repo


def changed_stages(root, repo, module: str) -> set[str]:
    """The stages `dvc status` lists after appending a comment to `module` (then restored)."""
    path = root / module
    original = path.read_text()
    path.write_text(original + "\n# touched\n")
    try:
        repo.index = repo.index.__class__.from_repo(repo)  # forget what DVC had hashed before the edit
        return set(repo.status())
    finally:
        path.write_text(original)


def one_per_dependency() -> list[str]:
    """A module for each thing dvc.yaml can list (a library folder or a file), and one of tools/ and of bench/:
    the modules of one library folder are one dependency, so an edit of any of them reruns the same stages."""
    chosen: dict[str, str] = {}
    for module in project_modules():
        chosen.setdefault(module.split("/")[0] if module.startswith(NEVER_RERUN) else dependency(module), module)
    return sorted(chosen.values())


@pytest.mark.parametrize("module", one_per_dependency())
def test_an_edit_reruns_exactly_what_depends_on_the_module(pipeline, module, monkeypatch):
    root, repo = pipeline
    monkeypatch.chdir(root)  # DVC names stages relative to the working directory
    assert changed_stages(root, repo, module) == should_rerun(module)


def test_an_edit_of_claims_yaml_reruns_the_plot_and_the_report(pipeline, monkeypatch):
    root, repo = pipeline
    monkeypatch.chdir(root)
    assert changed_stages(root, repo, "claims.yaml") == {"plot", "report"}
