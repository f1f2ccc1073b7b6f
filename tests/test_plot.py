"""The plot stage, on small metrics files that the tests write (no training)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import set_params
from matplotlib.image import imread

from stages import plot
from stages.common import StageError
from stages.params import load_params

EPOCHS = 3


def accuracy(arch: str, split: str, epoch: int) -> float:
    """A made-up accuracy, different for every arch, split and epoch."""
    return round(0.5 + 0.1 * epoch + (0.02 if split == "train" else 0) + 0.001 * len(arch), 6)


def write_run(root: Path, arch: str, test_acc: float = 0.8125, diverged: bool = False, epochs: int = EPOCHS) -> None:
    """What train@<arch> and evaluate@<arch> write, with made-up values."""
    logs = root / "metrics" / "train" / arch / "plots" / "metrics"
    for split in ("train", "val"):
        (logs / split).mkdir(parents=True, exist_ok=True)
        steps = range(1, epochs + 1)
        values = {"acc": [accuracy(arch, split, step) for step in steps], "loss": [1 / step for step in steps]}
        for metric, column in values.items():
            pd.DataFrame({"step": steps, metric: column}).to_csv(logs / split / f"{metric}.tsv", sep="\t", index=False)
    summary = {"best_epoch": 2, "best_val_acc": 0.7, "train_minutes": 1.5, "diverged": diverged, "device": "cpu"}
    (root / "metrics" / "train" / arch / "metrics.json").write_text(json.dumps(summary))
    test = {"test_acc": test_acc, "final_test_acc": test_acc - 0.01, "test_loss": 0.35, "f1": 0.81}
    (root / "metrics" / "test").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "test" / f"{arch}.json").write_text(json.dumps(test))


@pytest.fixture
def two_runs(project) -> Path:
    """`project` with archs = [rnn, lstm_manual] and their metrics files."""
    set_params(project, archs=["rnn", "lstm_manual"])
    write_run(project, "rnn", test_acc=0.8125)
    write_run(project, "lstm_manual", test_acc=0.8642)
    return project


def test_writes_every_figure_and_table(two_runs):
    plot.main()
    written = sorted(path.name for path in (two_runs / "plots").iterdir())
    assert written == ["accuracy.png", "curves.csv", "loss.png", "test_accuracy.csv", "test_accuracy.png"]
    for name in ("accuracy.png", "loss.png", "test_accuracy.png"):
        height, width, _ = imread(two_runs / "plots" / name).shape
        assert width > 600 and height > 400


def test_curves_csv_holds_every_arch_epoch_and_split(two_runs):
    plot.main()
    curves = pd.read_csv(two_runs / "plots" / "curves.csv")
    assert list(curves.columns) == ["arch", "epoch", "split", "acc", "loss"]
    assert len(curves) == 2 * 2 * EPOCHS
    for (arch, split), run in curves.groupby(["arch", "split"]):
        assert list(run["epoch"]) == [1, 2, 3]
        assert list(run["acc"]) == [accuracy(arch, split, epoch) for epoch in (1, 2, 3)]
        assert list(run["loss"]) == pytest.approx([1, 1 / 2, 1 / 3])
    assert set(curves["arch"]) == {"rnn", "lstm_manual"} and set(curves["split"]) == {"train", "val"}


def test_test_accuracy_csv_has_both_accuracies(two_runs):
    plot.main()
    table = pd.read_csv(two_runs / "plots" / "test_accuracy.csv")
    assert table.to_dict("list") == {
        "arch": ["rnn", "lstm_manual"],
        "test_acc": [0.8125, 0.8642],
        "final_test_acc": pytest.approx([0.8025, 0.8542]),
    }


def test_draws_only_the_archs_in_params(two_runs):
    set_params(two_runs, archs=["lstm_manual"])
    plot.main()
    assert set(pd.read_csv(two_runs / "plots" / "curves.csv")["arch"]) == {"lstm_manual"}
    assert list(pd.read_csv(two_runs / "plots" / "test_accuracy.csv")["arch"]) == ["lstm_manual"]


@pytest.mark.parametrize(
    ("missing", "target"),
    [
        ("metrics/train/lstm_manual/plots/metrics/val/loss.tsv", "train@lstm_manual"),
        ("metrics/test/lstm_manual.json", "evaluate@lstm_manual"),
    ],
)
def test_a_missing_input_names_the_file_and_the_stage_to_run(two_runs, missing, target):
    plot.main()
    before = (two_runs / "plots" / "curves.csv").read_bytes()
    (two_runs / missing).unlink()
    with pytest.raises(StageError) as error:
        plot.main()
    assert missing in str(error.value) and f"dvc repro {target}" in str(error.value)
    assert (two_runs / "plots" / "curves.csv").read_bytes() == before  # the earlier plots stay whole


def test_curve_figure_one_colour_per_arch_train_dashed_val_solid(two_runs):
    set_params(two_runs, pooling="last", hidden=32)
    params = load_params()
    curves = pd.concat([plot.load_curves(arch) for arch in params.archs])
    figure = plot.curve_figure(curves, "acc", "Accuracy", params)
    axes = figure.axes[0]
    assert len(axes.lines) == 4
    styles = {(line.get_color(), line.get_linestyle()) for line in axes.lines}
    assert styles == {(plot.COLOURS[arch], style) for arch in params.archs for style in ("--", "-")}
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("epoch", "accuracy")
    assert figure.get_suptitle() == "Accuracy per epoch"
    assert (
        axes.get_title()
        == "hidden=32, embed_dim=64, batch_size=64, loss=cross_entropy, pooling=last, lr=0.001, epochs=10"
    )
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["rnn", "lstm_manual", "train", "validation"]


def test_test_accuracy_figure_writes_the_values_on_the_bars(two_runs):
    table = pd.DataFrame({"arch": ["rnn", "lstm_manual"], "test_acc": [0.8125, 0.8642]})
    axes = plot.test_accuracy_figure(table, load_params()).axes[0]
    assert [text.get_text() for text in axes.texts] == ["0.8125", "0.8642"]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["rnn", "lstm_manual"]
