"""DVC's cache against the code: an edit of each project module marks exactly the stages that should rerun.

The table below is the dependency graph in words; a module missing from it fails the test, so a new
module must say what it reruns.
"""

import fnmatch

import pytest
from conftest import PROJECT, REPRODUCED, copy_project

TRAINING = ["train@*", "evaluate@*"]
SUMMARIES = ["aggregate", "plot", "report"]
EVERY_STAGE = ["download", "tokenize", *TRAINING, *SUMMARIES]

# module -> the stages an edit of it marks as changed (patterns over `dvc status` stage names)
RERUNS = {
    "stages/download.py": ["download"],
    "stages/tokenize.py": ["tokenize"],
    "stages/train.py": ["train@*"],
    "stages/evaluate.py": ["evaluate@*"],
    "stages/aggregate.py": ["aggregate"],
    "stages/plot.py": ["plot"],
    "stages/report.py": ["report"],
    "imdb_rnn/architectures/__init__.py": TRAINING,
    "imdb_rnn/architectures/lstm_manual.py": ["train@lstm_manual-*", "evaluate@lstm_manual-*"],
    "imdb_rnn/architectures/rnn.py": ["train@rnn-*", "evaluate@rnn-*"],
    "imdb_rnn/architectures/lstm.py": [],  # not in this project's archs: nothing reruns
    "imdb_rnn/architectures/gru.py": [],
    "imdb_rnn/architectures/gru_manual.py": [],
    "imdb_rnn/architectures/rnn_manual.py": [],
    "imdb_rnn/bptt.py": TRAINING,
    "imdb_rnn/checkpoint.py": TRAINING,
    "imdb_rnn/classifier.py": TRAINING,
    "imdb_rnn/data.py": TRAINING,
    "imdb_rnn/environment.py": TRAINING,
    "imdb_rnn/loops.py": TRAINING,
    "imdb_rnn/losses.py": TRAINING,
    "imdb_rnn/text.py": ["tokenize", *TRAINING],
    "imdb_rnn/common.py": EVERY_STAGE,
    "imdb_rnn/params.py": EVERY_STAGE,
    "imdb_rnn/paths.py": EVERY_STAGE,
    "imdb_rnn/runs.py": ["aggregate"],
    "imdb_rnn/epochs.py": ["evaluate@*", *SUMMARIES],
    "imdb_rnn/aggregated.py": SUMMARIES,
    "imdb_rnn/stats.py": SUMMARIES,
    "imdb_rnn/significance.py": ["plot", "report"],
    "imdb_rnn/published.py": ["plot", "report"],
}
NEVER_RERUN = ("tools/", "bench/", "tests/")  # user commands, benchmarks and tests shape no result


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


@pytest.fixture(scope="module")
def pipeline(reproduced, tmp_path_factory):
    """A copy of a tiny project whose whole pipeline ran once; returns its root and its DVC repo."""
    from dvc.repo import Repo

    assert REPRODUCED["archs"] == ["rnn", "lstm_manual"]  # the archs whose stages RERUNS names
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


def matching(names: set[str], patterns: list[str]) -> set[str]:
    return {name for name in names if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)}


def test_every_project_module_is_in_the_table():
    listed = set(RERUNS) | {m for m in project_modules() if m.startswith(NEVER_RERUN)}
    assert set(project_modules()) - listed == set(), "add the new module to RERUNS with the stages it reruns"


@pytest.mark.parametrize("module", project_modules())
def test_an_edit_reruns_exactly_what_depends_on_the_module(pipeline, module, monkeypatch):
    root, repo = pipeline
    monkeypatch.chdir(root)  # DVC names stages relative to the working directory
    every_stage = {stage.addressing for stage in repo.index.stages}
    expected = matching(every_stage, RERUNS.get(module, []))
    assert changed_stages(root, repo, module) == expected
