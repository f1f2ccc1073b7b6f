"""The plot stage, on what the aggregate stage writes from made-up per-seed files (no training)."""

import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import EPOCHS, made_up_accuracy, set_params, write_study
from matplotlib.image import imread

from imdb_rnn.analysis import aggregated, claims
from imdb_rnn.core import paths
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import load_params
from stages import aggregate, plot


@pytest.fixture
def study(project) -> Path:
    """`project` with archs [rnn, lstm_manual], three seeds each, their metrics files and summary."""
    set_params(project, archs=["rnn", "lstm_manual"], seeds=[0, 1, 2])
    write_study(project, {"rnn": [0.81, 0.82, 0.83], "lstm_manual": [0.86, 0.865, 0.87]})
    aggregate.main()
    return project


def test_writes_every_figure_and_table(study):
    plot.main()
    written = sorted(path.name for path in (study / "plots").iterdir())
    assert written == ["accuracy.png", "loss.png", "test_accuracy.csv", "test_accuracy.png"]
    for name in ("accuracy.png", "loss.png", "test_accuracy.png"):
        height, width, _ = imread(study / "plots" / name).shape
        assert width > 600 and height > 400


def test_curves_are_means_over_seeds_with_their_interval(study):
    curves = pd.read_csv(study / paths.CURVES_FILE)
    assert list(curves.columns) == [
        "arch",
        "split",
        "epoch",
        "n",
        "acc",
        "acc_low",
        "acc_high",
        "loss",
        "loss_low",
        "loss_high",
    ]
    assert len(curves) == 2 * 2 * EPOCHS and set(curves["n"]) == {3}
    row = curves[(curves["arch"] == "rnn") & (curves["split"] == "val") & (curves["epoch"] == 2)].iloc[0]
    values = [made_up_accuracy("rnn", seed, "val", 2) for seed in range(3)]  # 0.0001 apart: std 0.0001
    half = 4.303 * 0.0001 / math.sqrt(3)
    assert row["acc"] == pytest.approx(sum(values) / 3)
    assert (row["acc_low"], row["acc_high"]) == pytest.approx((row["acc"] - half, row["acc"] + half), abs=1e-6)
    assert math.isnan(row["loss_low"]) and math.isnan(row["loss_high"])  # every seed has loss 1/2: no width-0 band


def test_one_seed_leaves_the_band_empty(project):
    set_params(project, archs=["rnn"], seeds=[0])
    write_study(project, {"rnn": [0.81]})
    aggregate.main()
    curves = pd.read_csv(project / paths.CURVES_FILE)
    assert curves["acc_low"].isna().all() and curves["acc"].notna().all()


def test_test_accuracy_has_our_two_measures_and_the_reports_figure(study):
    plot.main()
    table = pd.read_csv(study / "plots" / "test_accuracy.csv")
    rnn = table[table["arch"] == "rnn"].set_index("measure")
    assert list(rnn.index) == ["best-validation epoch", "last epoch", "the report (last epoch)"]
    ours = rnn.loc["best-validation epoch"]
    assert ours["test_acc"] == pytest.approx(0.82) and ours["n"] == 3 and ours["low"] < 0.82 < ours["high"]
    assert rnn.loc["last epoch", "test_acc"] == pytest.approx(0.81)
    report = rnn.loc["the report (last epoch)"]
    assert report["test_acc"] == 0.8461 and math.isnan(report["low"]) and report["n"] == 1  # claims.yaml's


def test_the_reports_figure_is_claims_yamls(study):
    (study / claims.CLAIMS_FILE).write_text((study / claims.CLAIMS_FILE).read_text().replace("rnn: 0.8461", "rnn: 0.8"))
    plot.main()
    table = pd.read_csv(study / "plots" / "test_accuracy.csv").set_index(["arch", "measure"])
    assert table.loc[("rnn", "the report (last epoch)"), "test_acc"] == 0.8


def test_test_accuracy_figure_zooms_to_the_data(study):
    params = load_params(plot.Params)
    table = plot.test_accuracy_table(aggregated.estimates(), params.archs, {"rnn": 0.8461})
    axes = plot.test_accuracy_figure(table, params).axes[0]
    low, high = axes.get_xlim()
    assert 0.7 < low < 0.81 and 0.87 < high < 0.95  # not from 0: a point of difference stays visible
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["rnn", "lstm_manual"]


def test_curve_figure_one_colour_per_arch_train_dashed_val_solid(study):
    set_params(study, pooling="last", hidden=32)
    params = load_params(plot.Params)
    curves = pd.read_csv(study / paths.CURVES_FILE)
    figure = plot.curve_figure(curves, "acc", "Accuracy", params)
    axes = figure.axes[0]
    assert len(axes.lines) == 4 and len(axes.collections) == 4  # a line and a band per arch and split
    styles = [(line.get_color(), line.get_linestyle()) for line in axes.lines]
    colours = [colour for colour, _ in styles]
    assert len(set(colours)) == 2 and sorted(style for _, style in styles) == ["-", "-", "--", "--"]
    assert colours[0] == colours[1] != colours[2] == colours[3]  # one colour per arch, whatever the registry holds
    assert axes.get_title().endswith("pooling=last, lr=0.001, epochs=10, 3 seeds") and "hidden=32" in axes.get_title()
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["rnn", "lstm_manual", "train", "validation"]


@pytest.mark.parametrize(
    ("missing", "target"),
    [
        ("metrics/curves.csv", "aggregate"),
        ("metrics/estimates.json", "aggregate"),
    ],
)
def test_a_missing_input_names_the_file_and_the_stage_to_run(study, missing, target):
    plot.main()
    before = (study / "plots" / "test_accuracy.csv").read_bytes()
    (study / missing).unlink()
    with pytest.raises(StageError) as error:
        plot.main()
    assert missing in str(error.value) and f"dvc repro {target}" in str(error.value)
    assert (study / "plots" / "test_accuracy.csv").read_bytes() == before  # the earlier plots stay whole
