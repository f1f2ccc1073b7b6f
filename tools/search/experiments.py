"""Each finished trial as a DVC experiment, logged by the driver with dvclive, so that trials show in
`dvc exp show` (params and best validation accuracy) and their curves compare with `dvc plots diff`.

Every trial logs into the same folder (TRIAL_DIR) with its own dvc.yaml, so that the experiments share
their columns; the study file, not the experiments, is what carries a search to another machine.
"""

from pathlib import Path

from dvclive import Live
from optuna.trial import FrozenTrial

from tools.search.study import best_val_acc

TRIAL_DIR = Path("search/trial")


def experiment_name(number: int) -> str:
    return f"search-{number:03d}"


def save_experiment(trial: FrozenTrial) -> str | None:
    """Log `trial` (its config, per-epoch curve and outcome) as a DVC experiment; its name, or None if DVC could not
    save it (dvclive warns why: most often an output of the pipeline missing from the workspace)."""
    name = experiment_name(trial.number)
    with Live(
        str(TRIAL_DIR), dvcyaml=str(TRIAL_DIR / "dvc.yaml"), save_dvc_exp=True, exp_name=name, report=None
    ) as live:
        live.log_params(trial.user_attrs["config"])
        for row in trial.user_attrs["curve"]:
            live.step = row["epoch"]
            for metric in ("train_loss", "train_acc", "val_loss", "val_acc"):
                live.log_metric(metric.replace("_", "/", 1), row[metric])
        live.summary.update(
            {
                "best_val_acc": best_val_acc(trial.user_attrs["curve"]),
                "outcome": trial.user_attrs["outcome"],
                "trial": trial.number,
            }
        )
    return name if live._experiment_rev else None  # dvclive keeps the saved commit there, and no public word of it
