"""One trial, on a Dask worker: train a configuration through the project's training code, on the training
split, scored on the validation split only. After each epoch it reports to the driver (a Dask event) and
waits for its word (a Dask queue): go on, or stop here (Optuna's pruner). The worker never writes the study.
"""

import os
import tempfile
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from distributed import Queue, get_worker
from dvclive import Live

from imdb_rnn.training import environment
from imdb_rnn.training.data import Split, narrow
from imdb_rnn.training.loops import resolve_device
from stages import train

DECISION_TIMEOUT_S = 600.0  # how long a trial waits for the driver's word after an epoch before it stops itself
GO, PRUNE = "go", "prune"


class Pruned(Exception):
    """The driver said to stop here (Optuna's pruner, or the search is stopping)."""


class Unanswered(Exception):
    """The driver did not answer in DECISION_TIMEOUT_S."""


def run_trial(config: dict[str, Any], seed: int, splits: dict[str, Split], topic: str, key: str) -> dict:
    """Train `config` (arch, train params, encoding) from `seed`; the outcome, its curve and where it ran.

    `key` names the run in its events and its queue, whose answers are (epoch, GO or PRUNE). Outcome: complete,
    pruned, diverged or failed (with the error); a run never raises, so that a failure is recorded with its
    reason and the search goes on.
    """
    worker, replies, curve = get_worker(), Queue(f"{topic}-{key}"), []

    def report(epoch: int, metrics: dict[str, float]) -> None:
        curve.append({"epoch": epoch, **{name: round(value, 6) for name, value in metrics.items()}})
        worker.log_event(topic, {"key": key, "epoch": epoch, **metrics})
        answered = -1
        while answered not in (epoch, None):  # None: stop now; another epoch's answer was meant for an earlier try
            try:
                answered, decision = replies.get(timeout=DECISION_TIMEOUT_S)
            except TimeoutError:
                raise Unanswered(
                    f"no word from the search's driver in {DECISION_TIMEOUT_S:g} s after epoch {epoch}"
                ) from None
        if decision != GO:
            raise Pruned

    params = train.Params.model_validate({name: config[name] for name in train.Params.model_fields})
    environment.configure(params.threads, params.portable_numerics)  # before any torch computation (narrow's)
    data = {
        split: narrow(splits[split], config["vocab_size"], config["seq_len"], config["truncate"])
        for split in ("train", "val")
    }
    started = time.perf_counter()
    outcome = {"outcome": "complete", "reason": ""}
    try:  # the training's own lines and bars stay in the worker (the driver shows each trial's epochs itself)
        with (
            tempfile.TemporaryDirectory() as scratch,
            open(os.devnull, "w") as quiet,
            redirect_stdout(quiet),
            redirect_stderr(quiet),
            Live(scratch, dvcyaml=None, save_dvc_exp=False) as live,
        ):
            fitted = train.fit(
                config["arch"], seed, params, config["vocab_size"] + 2, live, (data["train"], data["val"]), report
            )
        if fitted.summary["diverged"]:
            outcome = {"outcome": "diverged", "reason": f"the training loss diverged (lr {params.lr:g})"}
    except Pruned:
        outcome = {"outcome": "pruned", "reason": "below the median of earlier trials, or the search stopped"}
    except Unanswered as error:
        outcome = {"outcome": "failed", "reason": str(error)}
    except Exception as error:  # recorded with its reason; the search goes on
        lines = traceback.format_exception_only(error)
        outcome = {"outcome": "failed", "reason": "".join(lines).strip()}
    machine = environment.describe(resolve_device(params.device))
    return {**outcome, "curve": curve, "minutes": round((time.perf_counter() - started) / 60, 3), **machine}
