"""Stage `plot`: per-epoch curves and test accuracy of every architecture, as figures and tables.

    python -m stages.plot

Reads, for each arch in `archs`, the per-epoch metrics that train@<arch> logged
(metrics/train/<arch>/plots/metrics/{train,val}/{acc,loss}.tsv) and the test metrics of
evaluate@<arch> (metrics/test/<arch>.json). Writes plots/ as a whole:

- accuracy.png, loss.png: train (dashed) and validation (solid) per epoch, one colour per architecture;
- test_accuracy.png: test accuracy per architecture (model of the best-validation epoch);
- curves.csv (arch, epoch, split, acc, loss) and test_accuracy.csv (arch, test_acc, final_test_acc):
  the same data, which `dvc plots show` and `dvc plots diff` draw (see the plots section of dvc.yaml).

Figures are drawn on matplotlib Figure objects, rendered by the Agg backend, without pyplot.
"""

import json
import math
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from stages.common import StageError, atomic_output, run_stage
from stages.params import ARCHS, Params, load_params

TRAIN_METRICS_DIR = Path("metrics/train")  # written by train@<arch>
TEST_METRICS_DIR = Path("metrics/test")  # written by evaluate@<arch>
PLOTS_DIR = Path("plots")
CURVE_COLUMNS = ["arch", "epoch", "split", "acc", "loss"]
LINE_STYLES = {"train": "--", "val": "-"}
SPLIT_NAMES = {"train": "train", "val": "validation"}
COLOURS = {arch: f"C{index}" for index, arch in enumerate(ARCHS)}  # an architecture keeps its colour in every run
TITLE_PARAMS = ("hidden", "embed_dim", "batch_size", "loss", "pooling", "lr", "epochs")


def _missing(path: Path, target: str) -> StageError:
    return StageError(
        f"{path} not found: it is written by stage {target}; run `dvc repro {target}` (or `dvc repro` for everything)"
    )


def read_json(path: Path, target: str) -> dict:
    """The JSON file `path`, which stage `target` writes; StageError if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _missing(path, target) from None
    except json.JSONDecodeError as error:
        raise StageError(f"{path} is not valid JSON ({error}): rewrite it with `dvc repro --force {target}`") from None


def epoch_metric(arch: str, split: str, metric: str) -> pd.Series:
    """One metric of `arch` per epoch (dvclive's step), from train@<arch>'s log."""
    path = TRAIN_METRICS_DIR / arch / "plots" / "metrics" / split / f"{metric}.tsv"
    try:
        log = pd.read_csv(path, sep="\t")
    except FileNotFoundError:
        raise _missing(path, f"train@{arch}") from None
    return log.set_index("step")[metric].rename_axis("epoch")


def load_curves(arch: str) -> pd.DataFrame:
    """Accuracy and loss of `arch` per epoch and split, with the columns of curves.csv."""
    splits = [
        pd.concat({metric: epoch_metric(arch, split, metric) for metric in ("acc", "loss")}, axis=1)
        .reset_index()
        .assign(arch=arch, split=split)
        for split in LINE_STYLES
    ]
    return pd.concat(splits, ignore_index=True)[CURVE_COLUMNS]


def load_test_metrics(arch: str) -> dict:
    """What evaluate@<arch> wrote: test_acc, final_test_acc, test_loss, f1, ..."""
    return read_json(TEST_METRICS_DIR / f"{arch}.json", f"evaluate@{arch}")


def params_caption(params: Params) -> str:
    """The params that shape the curves, as `name=value, ...` for figure titles."""
    return ", ".join(f"{name}={getattr(params, name)}" for name in TITLE_PARAMS)


def _figure(title: str, params: Params) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    figure.suptitle(title, fontsize=14)
    axes = figure.add_subplot()
    axes.set_title(params_caption(params), fontsize=9, color="dimgray")
    axes.grid(alpha=0.3)
    return figure, axes


def curve_figure(curves: pd.DataFrame, metric: str, label: str, params: Params) -> Figure:
    """`metric` per epoch: one colour per architecture, train dashed and validation solid."""
    figure, axes = _figure(f"{label} per epoch", params)
    for (arch, split), run in curves.groupby(["arch", "split"], sort=False):
        axes.plot(run["epoch"], run[metric], LINE_STYLES[split], color=COLOURS[arch], marker="o", markersize=3)
    axes.set(xlabel="epoch", ylabel=label.lower())
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend = [Line2D([], [], color=COLOURS[arch], label=arch) for arch in curves["arch"].unique()]
    legend += [
        Line2D([], [], color="black", linestyle=style, label=SPLIT_NAMES[split]) for split, style in LINE_STYLES.items()
    ]
    figure.legend(handles=legend, loc="outside lower center", ncols=math.ceil(len(legend) / 2), frameon=False)
    return figure


def test_accuracy_figure(table: pd.DataFrame, params: Params) -> Figure:
    """Test accuracy (best-validation epoch) per architecture, its value written on each bar."""
    figure, axes = _figure("Test accuracy", params)
    bars = axes.bar(table["arch"], table["test_acc"], color=[COLOURS[arch] for arch in table["arch"]])
    axes.bar_label(bars, fmt="%.4f", padding=2)
    axes.set(xlabel="architecture", ylabel="test accuracy (best-validation epoch)", ylim=(0, 1.08))
    axes.grid(axis="x", visible=False)
    return figure


def main() -> None:
    params = load_params()
    curves = pd.concat([load_curves(arch) for arch in params.archs], ignore_index=True)
    test_accuracy = pd.DataFrame(
        [{"arch": arch, **load_test_metrics(arch)} for arch in params.archs],
        columns=["arch", "test_acc", "final_test_acc"],
    )
    figures = {
        "accuracy.png": curve_figure(curves, "acc", "Accuracy", params),
        "loss.png": curve_figure(curves, "loss", "Loss", params),
        "test_accuracy.png": test_accuracy_figure(test_accuracy, params),
    }
    with atomic_output(PLOTS_DIR) as staged:
        staged.mkdir()
        curves.to_csv(staged / "curves.csv", index=False)
        test_accuracy.to_csv(staged / "test_accuracy.csv", index=False)
        for name, figure in figures.items():
            figure.savefig(staged / name, dpi=120)
    print(
        f"plot: {', '.join(params.archs)} -> {PLOTS_DIR}/ ({', '.join([*figures, 'curves.csv', 'test_accuracy.csv'])})"
    )


if __name__ == "__main__":
    run_stage(main)
