"""The report stage, on small metrics files that the tests write (no training)."""

import hashlib
from pathlib import Path

import pytest
from conftest import set_params
from test_plot import write_run

from stages import report
from stages.common import StageError
from stages.download import RAW_ARCHIVE

ARCHIVE_BYTES = b"stands in for the archive"


@pytest.fixture
def two_runs(project) -> Path:
    """`project` with archs = [rnn, gru], their metrics files and a downloaded archive."""
    set_params(project, archs=["rnn", "gru"], hidden=128)
    write_run(project, "rnn", test_acc=0.8125)
    write_run(project, "gru", test_acc=0.8642, diverged=True)
    (project / RAW_ARCHIVE).parent.mkdir(parents=True)
    (project / RAW_ARCHIVE).write_bytes(ARCHIVE_BYTES)
    return project


def cells(text: str, arch: str) -> list[str]:
    """The cells of `arch`'s row in the markdown results table."""
    row = next(line for line in text.splitlines() if line.startswith(f"| {arch} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_one_row_per_arch_with_its_results(two_runs):
    report.main()
    text = (two_runs / "reports" / "results.md").read_text()
    header = [cell.strip() for cell in text.splitlines()[2].strip("|").split("|")]
    assert header == ["arch", *report.COLUMNS]
    assert cells(text, "rnn") == ["rnn", "0.8125", "0.8025", "0.3500", "0.8100", "2", "1.50", "no"]
    assert cells(text, "gru") == ["gru", "0.8642", "0.8542", "0.3500", "0.8100", "2", "1.50", "yes"]


def test_lists_params_data_device_and_links_the_figures(two_runs):
    report.main()
    text = (two_runs / "reports" / "results.md").read_text()
    params = text.split("```yaml\n")[1].split("```")[0]
    assert "hidden: 128" in params and "archs: [rnn, gru]" in params
    assert "url:" not in params and "md5:" not in params
    url = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert f"- data: {url} (archive MD5 `{hashlib.md5(ARCHIVE_BYTES).hexdigest()}`)" in text
    assert "- device: cpu" in text
    for name in ("accuracy.png", "loss.png", "test_accuracy.png"):
        assert f"](../plots/{name})" in text
        assert (two_runs / "reports" / ".." / "plots" / name).resolve() == (two_runs / "plots" / name).resolve()


def test_only_the_archs_in_params(two_runs):
    set_params(two_runs, archs=["gru"])
    report.main()
    text = (two_runs / "reports" / "results.md").read_text()
    assert cells(text, "gru")[0] == "gru" and "| rnn " not in text


@pytest.mark.parametrize(
    ("missing", "target"),
    [
        ("metrics/train/gru/metrics.json", "train@gru"),
        ("metrics/test/gru.json", "evaluate@gru"),
        ("data/raw/aclImdb_v1.tar.gz", "download"),
    ],
)
def test_a_missing_input_names_the_file_and_the_stage_to_run(two_runs, missing, target):
    (two_runs / missing).unlink()
    with pytest.raises(StageError) as error:
        report.main()
    assert missing in str(error.value) and f"dvc repro {target}" in str(error.value)
    assert not (two_runs / "reports" / "results.md").exists()
