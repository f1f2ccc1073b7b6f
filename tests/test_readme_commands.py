"""The README's comparison commands, run as it writes them on a tiny project, as a 200-column terminal shows them.

`dvc metrics show` prints its row whole, which a terminal wraps past its width; `dvc exp show` pipes its table,
whole, through `less -S`, which cuts it there (or, with --no-pager, fits it to the terminal by squeezing
columns to '…'). Either way the table is readable when no line passes 200 characters and none holds '…'.
"""

import json
import re
import shlex

import pytest
from conftest import GIT_COMMIT, PROJECT, make_dvc_project, run_command, set_params, write_study
from dvc.repo import Repo

from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import CORRECT_FILE, CURVES_FILE, ESTIMATES_FILE, RUNS_FILE, SUMMARY_FILE
from stages import aggregate

WIDTH = 200
ARCHS = ["rnn", "lstm", "gru", "lstm_manual"]  # params.yaml's, whose names make the widest table
SEEDS = [0, 1]
EXPERIMENT = "hidden128"
AGGREGATED = (SUMMARY_FILE, ESTIMATES_FILE, CURVES_FILE, RUNS_FILE, CORRECT_FILE)  # in git, as in the project
COMPARISONS = (("dvc", "metrics", "show"), ("dvc", "exp", "show"))


def readme_commands() -> dict[tuple[str, ...], list[str]]:
    """The README's `dvc metrics show` and `dvc exp show` lines (section Commands), split as the shell splits them."""
    section = (PROJECT / "README.md").read_text().split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    found = {}
    for line in block.splitlines():
        args = shlex.split(line, comments=True)
        if tuple(args[:3]) in COMPARISONS:
            found[tuple(args[:3])] = args
    assert set(found) == set(COMPARISONS), f"the README's Commands block lists {sorted(found)}"
    return found


def accuracies(offset: float) -> dict[str, list[float]]:
    """Each arch's per-seed test accuracies (whole reviews of 10,000), their means of five decimals as real ones."""
    return {
        arch: [round(0.8101 + offset + 0.01 * rank + 0.0003 * seed, 4) for seed in SEEDS]
        for rank, arch in enumerate(ARCHS)
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple:
    """The study committed on main, experiment hidden128 saved beside it, the workspace back at the study.

    Made-up runs (no training), summarised by the aggregate stage; returns the root and each one's headline."""
    root = make_dvc_project(tmp_path_factory.mktemp("readme"), archs=ARCHS, seeds=SEEDS)
    headlines = {}
    with pytest.MonkeyPatch.context() as patch, Repo(str(root)) as repo:
        patch.chdir(root)
        for name, offset in (("main", 0.0), (EXPERIMENT, 0.0052)):
            if name == EXPERIMENT:
                set_params(root, hidden=128)
            write_study(root, accuracies(offset))
            aggregate.main()
            headlines[name] = json.loads((root / SUMMARY_FILE).read_text())
            if name == EXPERIMENT:
                repo.experiments.save(targets=["aggregate"], name=EXPERIMENT)
            else:
                repo.commit("aggregate", force=True)
                run_command(["git", "add", "dvc.lock", *(path.as_posix() for path in AGGREGATED)], root)
                run_command([*GIT_COMMIT, "-qm", "study"], root)
    run_command(["git", "reset", "-q", "--hard"], root)
    return root, headlines


@pytest.fixture
def terminal(monkeypatch):
    """Commands run as in a 200-column terminal: DVC (rich) takes its width from COLUMNS."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # no colour codes in the lines measured


def shown(root, args: list[str]) -> list[str]:
    """The command's output lines, checked to fit WIDTH whole: none longer, no column squeezed to '…'."""
    lines = run_command(args, root).stdout.splitlines()
    assert max(map(len, lines)) <= WIDTH and not any("…" in line for line in lines), "\n".join(lines)
    return lines


def means(headline: dict) -> dict[str, float]:
    return {f"{arch}.{epoch.review_key}": headline[arch][epoch.review_key] for arch in ARCHS for epoch in EPOCHS}


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_metrics_show_fits_with_each_archs_means_at_both_epochs(project, terminal):
    root, headlines = project
    header, row = shown(root, readme_commands()[COMPARISONS[0]])
    table = dict(zip(header.split(), row.split(), strict=True))
    assert table["Path"] == SUMMARY_FILE.as_posix()
    for column, mean in means(headlines["main"]).items():
        assert float(table[column]) == pytest.approx(mean, abs=5e-6), column  # shown to 5 decimals


def test_exp_show_fits_with_each_archs_means_for_the_study_and_the_experiment(project, terminal):
    root, headlines = project
    lines = shown(root, readme_commands()[COMPARISONS[1]])
    header, *rows = [cells(line) for line in lines if line.strip() and not line.strip().startswith("─")]
    assert header[0] == "Experiment" and "hidden" in header  # the param the experiment changed
    assert all(len(row) == len(header) for row in rows), lines  # no cell wrapped onto a line of its own
    by_name = {row[0].split("[")[-1].rstrip("]"): dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_name) == {"workspace", "main", EXPERIMENT}
    for name, study in (("workspace", "main"), ("main", "main"), (EXPERIMENT, EXPERIMENT)):
        for column, mean in means(headlines[study]).items():
            assert float(by_name[name][column]) == pytest.approx(mean, abs=5e-6), (name, column)
    assert headlines["main"] != headlines[EXPERIMENT]  # so that each row shows its own
