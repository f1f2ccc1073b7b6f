"""The study: Optuna's journal file, written by the driver alone, and what a rerun finds in it.

The file is text, one JSON line per change, committed to git: each trial's drawn params, its whole
configuration, its per-epoch validation curve, its outcome and reason, and where it ran. A trial found
RUNNING (its search was killed: SIGKILL, a crash, a lost machine) is marked failed, saying so, and its params
are queued again, so a rerun retries it first and no finished trial runs twice.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from imdb_rnn.core.common import StageError
from tools.search.space import PER_SEARCH

STUDY_NAME = "imdb-rnn"
SEARCH_SEED = 0  # the sampler's; each trial trains from seed 0 (the study's first seed)


def open_study(path: Path, startup_trials: int, warmup_epochs: int) -> optuna.Study:
    """The study in `path` (created if new): maximize validation accuracy, TPE, median pruning."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(path))),
        study_name=STUDY_NAME,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEARCH_SEED, n_startup_trials=startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs),
        load_if_exists=True,
    )


def abandon(study: optuna.Study, trial: FrozenTrial | optuna.Trial, reason: str) -> None:
    """Mark a trial that did not end failed, with `reason`, and queue its params to run again."""
    storage, trial_id = study._storage, trial._trial_id  # Optuna has no public call to annotate a stranded trial
    storage.set_trial_user_attr(trial_id, "reason", reason)
    storage.set_trial_user_attr(trial_id, "outcome", "abandoned")
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def recover(study: optuna.Study) -> list[int]:
    """Abandon every trial left RUNNING by a search that did not end; their numbers."""
    stranded = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stranded:
        abandon(study, trial, "its search stopped during it (killed, crashed or moved); retried by the next run")
    return [trial.number for trial in stranded]


def best_val_acc(curve: list[dict[str, Any]]) -> float:
    """The trial's objective: its best validation accuracy over the epochs it ran (the best-validation epoch)."""
    return max(row["val_acc"] for row in curve)


def rescored(study: optuna.Study) -> dict[int, dict[int, float]]:
    """Best validation accuracy of each rescoring run done: trial number -> seed -> accuracy."""
    saved = study.user_attrs.get("rescored", {})  # JSON keys are strings
    return {int(number): {int(seed): acc for seed, acc in by_seed.items()} for number, by_seed in saved.items()}


@contextmanager
def driving(path: Path) -> Iterator[None]:
    """Hold the study file's driver lock: one search writes a study at a time."""
    lock = path.with_name(path.name + ".driver")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StageError(
                f"another search is running on {path} (it holds {lock}); wait for it, or stop it"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def confirmation_entry(config: dict[str, Any], study_params: dict[str, Any]) -> dict[str, Any]:
    """A trial's configuration as a claims.yaml entry of tools.ablations: its arch, and the params in which it
    differs from the study's (`study_params`, params.yaml), but those of one search process (threads, numerics,
    device), which stay the study's: the confirmation trains under the study's protocol."""
    params = {
        key: value
        for key, value in config.items()
        if key != "arch" and key not in PER_SEARCH and study_params.get(key) != value
    }
    return {"archs": [config["arch"]], "params": params}
