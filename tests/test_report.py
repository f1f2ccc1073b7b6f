"""The report stage, on per-seed metrics files that the tests write (no training)."""

import hashlib
from pathlib import Path

import pytest
from conftest import set_params, write_study

from imdb_rnn import published
from imdb_rnn.common import StageError
from imdb_rnn.paths import RAW_ARCHIVE, REPORT_FILE
from stages import aggregate, report

ARCHIVE_BYTES = b"stands in for the archive"
# lstm beats rnn by 2 points on every seed; gru ties lstm on average (+-0.5 points, seed by seed).
STUDY = {"rnn": [0.84, 0.845, 0.85], "lstm": [0.86, 0.865, 0.87], "gru": [0.865, 0.86, 0.87]}


@pytest.fixture
def study(project) -> Path:
    set_params(project, archs=list(STUDY), seeds=[0, 1, 2], hidden=128)
    write_study(project, STUDY)
    aggregate.main()
    (project / RAW_ARCHIVE).parent.mkdir(parents=True)
    (project / RAW_ARCHIVE).write_bytes(ARCHIVE_BYTES)
    return project


def rows(text: str, first_cell: str | None = None) -> list[list[str]]:
    """The cells of every markdown table row, or of those whose first cell is `first_cell`."""
    cells = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    return [row for row in cells if first_cell is None or row[0] == first_cell]


def test_means_intervals_and_the_reports_figure_per_arch(study):
    report.main()
    text = (study / REPORT_FILE).read_text()
    assert "3 training seeds per architecture (0, 1, 2)" in text
    lstm = rows(text, "lstm")[0]
    assert lstm[:2] == ["lstm", "3"]
    assert lstm[2].startswith("0.8650 [0.8526, 0.8774]")  # 0.865 +- 4.303 * 0.005 / sqrt(3)
    assert (
        lstm[3].startswith("0.8550 [") and lstm[4] == f"{published.TEST_ACCURACY['lstm']:.4f}" and lstm[5] == "0 of 3"
    )


def test_differences_and_claims_get_verdicts(study):
    report.main()
    text = (study / REPORT_FILE).read_text()
    (lstm_rnn,) = rows(text, "lstm − rnn")
    assert lstm_rnn[1:3] == ["3", "+2.00"] and lstm_rnn[4] == "lstm better"
    (gru_lstm,) = rows(text, "gru − lstm")
    assert gru_lstm[4] == "no detectable difference at 95%"
    claims = {row[0]: row[1:] for row in rows(text) if row[0] in {c.text for c in published.ARCHITECTURE_CLAIMS}}
    assert claims["LSTM is slightly better than the plain RNN"][0].startswith("holds (lstm − rnn = +2.00 points")
    # gru − lstm: +0.5, -0.5, 0 points: the interval, [-1.24, +1.24], is not within the ±1 point margin
    assert claims["LSTM and GRU differ little"][1].startswith("not detectable at this n: the interval is not within")
    assert claims["LSTM passes 85% test accuracy"][1].startswith("holds: above 0.85")
    assert claims["the plain RNN stays just below 85%"][1].startswith("not detectable at this n")
    assert "the hand-written LSTM does as well as nn.LSTM" not in claims  # lstm_manual did not run


def test_every_run_the_setup_and_the_figures(study):
    report.main()
    text = (study / REPORT_FILE).read_text()
    assert len(rows(text, "gru")) == 1 + 3  # its summary row and its three runs
    assert rows(text, "gru")[1][:4] == ["gru", "0", "0.8650", "0.8550"]
    params = text.split("```yaml\n")[1].split("```")[0]
    assert "hidden: 128" in params and "seeds: [0, 1, 2]" in params and "url:" not in params
    assert f"archive MD5 `{hashlib.md5(ARCHIVE_BYTES).hexdigest()}`" in text and "- device: cpu" in text
    for name in ("accuracy.png", "loss.png", "test_accuracy.png"):
        assert f"](../plots/{name})" in text


def test_differ_little_holds_only_inside_the_margin(study):
    set_params(study, archs=["lstm", "gru"])
    write_study(study, {"lstm": [0.86, 0.865, 0.87], "gru": [0.861, 0.866, 0.8705]})  # +0.1, +0.1, +0.05 points
    aggregate.main()
    report.main()
    claims = {row[0]: row[1:] for row in rows((study / REPORT_FILE).read_text())}
    assert claims["LSTM and GRU differ little"][1].startswith("holds: the difference is within ±1 point")
    write_study(study, {"lstm": [0.86, 0.865, 0.87], "gru": [0.88, 0.884, 0.89]})  # about +2 points each
    aggregate.main()
    report.main()
    claims = {row[0]: row[1:] for row in rows((study / REPORT_FILE).read_text())}
    assert claims["LSTM and GRU differ little"][1].startswith("does not hold: the difference exceeds 1 point")


def test_one_seed_has_no_interval_and_no_verdict(project):
    set_params(project, archs=["rnn", "lstm"], seeds=[0])
    write_study(project, {"rnn": [0.84], "lstm": [0.86]})
    aggregate.main()
    (project / RAW_ARCHIVE).parent.mkdir(parents=True)
    (project / RAW_ARCHIVE).write_bytes(ARCHIVE_BYTES)
    report.main()
    text = (project / REPORT_FILE).read_text()
    assert "none (one seed)" in rows(text, "lstm")[0][2]
    claims = [row[1:] for row in rows(text) if row[0] in {claim.text for claim in published.ARCHITECTURE_CLAIMS}]
    assert claims and all(verdict.startswith("not detectable at this n") for row in claims for verdict in row)


@pytest.mark.parametrize(
    ("missing", "target"),
    [
        ("metrics/train/gru-1/metrics.json", "train@gru-1"),
        ("metrics/summary.json", "aggregate"),
        ("data/raw/aclImdb_v1.tar.gz", "download"),
    ],
)
def test_a_missing_input_names_the_file_and_the_stage_to_run(study, missing, target):
    (study / missing).unlink()
    with pytest.raises(StageError) as error:
        report.main()
    assert missing in str(error.value) and f"dvc repro {target}" in str(error.value)
    assert not (study / REPORT_FILE).exists()
