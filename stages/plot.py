"""Stage `plot`: per-epoch curves and test accuracy of every architecture, as means over seeds with 95% intervals.

    python -m stages.plot

Reads what the aggregate stage wrote (the curves' statistics and the estimates) and the report's
figures (claims.yaml), and writes plots/:

- accuracy.png, loss.png: the mean over seeds per epoch with its 95% band, train dashed and
  validation solid, one colour per architecture;
- test_accuracy.png: test accuracy per architecture, the mean over seeds with its 95% error bar, for
  the best-validation epoch and the last epoch, with the report's figure (one run, last epoch) beside;
  the axis is zoomed to the data, so differences of a point stay visible;
- test_accuracy.csv (arch, measure, test_acc, low, high, n): the same data, drawn by `dvc plots show`
  and `dvc plots diff` (templates in .dvc/plots/), as is metrics/curves.csv for the curves. An
  interval that one seed cannot give is left empty.

Figures are drawn on matplotlib Figure objects, rendered by the Agg backend, without pyplot.
"""

import math

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from imdb_rnn.analysis import aggregated, claims
from imdb_rnn.analysis.stats import CONFIDENCE
from imdb_rnn.core.common import atomic_output, run_stage
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import PLOTS_DIR


class Params(StageParams):
    archs: list[str]
    seeds: list[int]
    hidden: int
    embed_dim: int
    batch_size: int
    loss: str
    pooling: str
    lr: float
    epochs: int


LINE_STYLES = {"train": "--", "val": "-"}
SPLIT_NAMES = {"train": "train", "val": "validation"}
TITLE_PARAMS = ("hidden", "embed_dim", "batch_size", "loss", "pooling", "lr", "epochs")
# test_accuracy.csv's measures: ours (the mean over seeds) at both epochs, and the report's single run.
REPORT_MEASURE = "the report (last epoch)"
MARKERS = {**dict(zip((epoch.label for epoch in EPOCHS), "os", strict=True)), REPORT_MEASURE: "X"}


def colours(archs: list[str]) -> dict[str, str]:
    """One colour per architecture, by its place in `archs`: every figure of a study colours it alike."""
    return {arch: f"C{index}" for index, arch in enumerate(archs)}


def test_accuracy_table(estimates: dict, archs: list[str], reported: dict[str, float]) -> pd.DataFrame:
    """Per arch and measure: test accuracy (mean), its 95% interval (NaN if absent) and n, from estimates.json;
    and the report's figure (`reported`, one run) where it gave one."""
    rows = []
    for arch in archs:
        for epoch in EPOCHS:
            stats = estimates[arch][epoch.key]
            low, high = (math.nan if stats[end] is None else stats[end] for end in ("low", "high"))
            rows.append([arch, epoch.label, stats["mean"], low, high, estimates[arch]["n"]])
        if arch in reported:
            rows.append([arch, REPORT_MEASURE, reported[arch], math.nan, math.nan, 1])
    return pd.DataFrame(rows, columns=["arch", "measure", "test_acc", "low", "high", "n"])


def params_caption(params: Params) -> str:
    """The params that shape the curves, as `name=value, ...` for figure titles."""
    seeds = f"{len(params.seeds)} seed{'s' if len(params.seeds) > 1 else ''}"
    return ", ".join([*(f"{name}={getattr(params, name)}" for name in TITLE_PARAMS), seeds])


def _figure(title: str, params: Params) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    figure.suptitle(title, fontsize=14)
    axes = figure.add_subplot()
    axes.set_title(params_caption(params), fontsize=9, color="dimgray")
    axes.grid(alpha=0.3)
    return figure, axes


def curve_figure(curves: pd.DataFrame, metric: str, label: str, params: Params) -> Figure:
    """`metric` per epoch, mean over seeds with a shaded 95% band: one colour per arch, train dashed."""
    interval = f"mean over seeds, {CONFIDENCE:.0%} band"
    figure, axes = _figure(f"{label} per epoch ({interval})", params)
    colour_of = colours(params.archs)
    for (arch, split), run in curves.groupby(["arch", "split"], sort=False):
        colour = colour_of[arch]
        axes.plot(run["epoch"], run[metric], LINE_STYLES[split], color=colour, marker="o", markersize=3)
        axes.fill_between(run["epoch"], run[f"{metric}_low"], run[f"{metric}_high"], color=colour, alpha=0.15)
    axes.set(xlabel="epoch", ylabel=label.lower())
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend = [Line2D([], [], color=colour_of[arch], label=arch) for arch in curves["arch"].unique()]
    legend += [
        Line2D([], [], color="black", linestyle=style, label=SPLIT_NAMES[split]) for split, style in LINE_STYLES.items()
    ]
    figure.legend(handles=legend, loc="outside lower center", ncols=math.ceil(len(legend) / 2), frameon=False)
    return figure


def test_accuracy_figure(table: pd.DataFrame, params: Params) -> Figure:
    """Test accuracy per arch: our means with 95% error bars and the report's figures, on a zoomed axis."""
    figure, axes = _figure(f"Test accuracy (mean over seeds, {CONFIDENCE:.0%} interval)", params)
    archs = list(dict.fromkeys(table["arch"]))
    offsets = dict(zip(MARKERS, (-0.2, 0.0, 0.2), strict=True))
    for measure, marker in MARKERS.items():
        rows = table[table["measure"] == measure]
        y = [archs.index(arch) + offsets[measure] for arch in rows["arch"]]
        errors = [rows["test_acc"] - rows["low"], rows["high"] - rows["test_acc"]]
        axes.errorbar(
            rows["test_acc"], y, xerr=errors, fmt=marker, color="black" if measure == REPORT_MEASURE else None,
            capsize=4, label=measure,
        )  # fmt: skip
    lowest = table[["test_acc", "low"]].min().min()
    highest = table[["test_acc", "high"]].max().max()
    margin = max((highest - lowest) * 0.15, 0.002)
    axes.set_xlim(lowest - margin, highest + margin)
    axes.set_yticks(range(len(archs)), archs)
    axes.invert_yaxis()
    axes.set(xlabel="test accuracy", ylabel="architecture")
    figure.legend(loc="outside lower center", ncols=len(MARKERS), frameon=False)
    return figure


def main() -> None:
    params = load_params(Params)
    reported = claims.load_claims().report.test_accuracy
    curves = aggregated.curves()
    test_accuracy = test_accuracy_table(aggregated.estimates(), params.archs, reported)
    figures = {
        "accuracy.png": curve_figure(curves, "acc", "Accuracy", params),
        "loss.png": curve_figure(curves, "loss", "Loss", params),
        "test_accuracy.png": test_accuracy_figure(test_accuracy, params),
    }
    with atomic_output(PLOTS_DIR) as staged:
        staged.mkdir()
        test_accuracy.to_csv(staged / "test_accuracy.csv", index=False, float_format="%.6g")
        for name, figure in figures.items():
            figure.savefig(staged / name, dpi=120)
    print(f"plot: {', '.join(params.archs)} x {len(params.seeds)} seeds -> {PLOTS_DIR}/")


if __name__ == "__main__":
    run_stage(main)
