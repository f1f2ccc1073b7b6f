"""The study in one figure: each trial's validation curve, the rescoring, and what moved validation accuracy.

Left: validation accuracy per epoch of every trial that trained (seed 0), the rescored ones' seeds 1 and 2 as
points at their best epoch's value; right: fANOVA importances, when there are enough complete trials. Drawn on
a matplotlib Figure with the Agg backend, as stages/plot.py draws, without pyplot.
"""

from pathlib import Path

import optuna
from matplotlib.figure import Figure
from optuna.trial import TrialState

from imdb_rnn.core.common import atomic_output
from tools.search.study import rescored


def draw(study: optuna.Study, importances: dict[str, float], path: Path) -> None:
    """The figure, written whole to `path` (PNG)."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    curves, shares = figure.subplots(1, 2, width_ratios=(3, 2))
    scores = rescored(study)
    for trial in study.trials:
        curve = trial.user_attrs.get("curve")
        if not curve:
            continue
        epochs = [row["epoch"] for row in curve]
        style = "-" if trial.state == TrialState.COMPLETE else ":"
        (line,) = curves.plot(
            epochs, [row["val_acc"] for row in curve], style, marker=".", label=f"trial {trial.number}"
        )
        for accuracy in scores.get(trial.number, {}).values():
            curves.plot(epochs[-1] + 0.3, accuracy, "o", color=line.get_color(), fillstyle="none")
    curves.set(xlabel="epoch", ylabel="validation accuracy", title="Trials (seed 0); circles: rescored seeds' best")
    curves.legend(fontsize="small", ncols=2)
    if importances:
        names = list(importances)[::-1]
        shares.barh(names, [importances[name] for name in names])
        shares.set(xlabel="share of the variance (fANOVA)", title=f"Importance over {_complete(study)} trials")
    else:
        shares.set_axis_off()
        shares.text(0.5, 0.5, "importances: too few complete trials", ha="center", va="center")
    with atomic_output(path) as staged:
        figure.savefig(staged, format="png", dpi=110)


def _complete(study: optuna.Study) -> int:
    return sum(trial.state == TrialState.COMPLETE for trial in study.trials)
