"""The driver: asks Optuna for configurations, runs them as Dask tasks, prunes them, tells Optuna how they ended.

It alone writes the study file. Each epoch a trial reports (a Dask event) is told to Optuna's pruner, whose
word goes back on the trial's queue. A finished trial is recorded in the study, then logged as a DVC
experiment. Ctrl-C or SIGTERM: the running trials are marked failed and queued again, so a rerun resumes.
"""

import glob
import logging
import queue
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from distributed import Client, Future, Queue
from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile
from optuna.trial import TrialState
from tqdm import tqdm

from imdb_rnn.core.common import StageError
from imdb_rnn.experiments.processes import Interrupted
from tools.search import trial as worker_side
from tools.search.experiments import save_experiment
from tools.search.space import Space
from tools.search.study import abandon, best_val_acc, finished

POLL_S = 1.0
NOT_SAVED = (
    "  not saved as a DVC experiment (dvclive's warning above says why; `dvc exp save` needs the pipeline's outputs "
    "in the workspace: dvc pull or dvc repro). The study file holds the trial all the same."
)
TRIAL_SEED = 0
OUTCOME_STATES = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}


@dataclass
class Running:
    future: Future
    trial: optuna.Trial | None = None  # a search trial; None for a rescoring run
    rescores: tuple[int, int] | None = None  # (trial number, seed) of a rescoring run


@dataclass
class Budget:
    trials: int  # trials this run may start (a retried one included)
    hours: float | None  # no trial starts after this many hours
    started_at: float = 0.0

    def allows(self, started: int) -> bool:
        late = self.hours is not None and time.monotonic() - self.started_at > self.hours * 3600
        return started < self.trials and not late


def send_code(client: Client) -> None:
    """Give remote workers the code a trial runs (the library, the stages, this package) as a zip on their path;
    refuse workers whose torch or dvclive differ from the driver's (their numbers or logs would differ)."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch, "tools-search-trial.zip")
        with zipfile.ZipFile(archive, "w") as zipped:
            for source in ["tools/__init__.py", *glob.glob("tools/search/*.py"), *glob.glob("stages/*.py")]:
                zipped.write(source)
            for source in glob.glob("imdb_rnn/**/*.py", recursive=True):
                zipped.write(source)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if client.cluster is None:  # a scheduler in a process of its own unpickles the tasks: it needs them too
                client.register_plugin(SchedulerUploadFile(str(archive)), name=archive.name)
            client.register_plugin(UploadFile(str(archive)), name=archive.name)
            client.get_versions(check=True, packages=["torch", "dvclive"])
    if problems := [str(w.message) for w in caught if "Mismatched versions" in str(w.message)]:
        raise StageError("the workers' packages differ from this machine's:\n" + "\n".join(problems))


class Driver:
    def __init__(self, study: optuna.Study, space: Space, client: Client, splits: Any, experiments: bool) -> None:
        self.study, self.space, self.client, self.splits = study, space, client, splits
        self.experiments = experiments
        self.topic = f"search-{uuid.uuid4().hex}"
        self.events: queue.Queue = queue.Queue()
        self.running: dict[str, Running] = {}
        client.subscribe_topic(self.topic, lambda event: self.events.put(event[1]))

    def run(self, budget: Budget, jobs: int) -> int:
        """Run trials, `jobs` at once, until the budget is spent; the number started."""
        budget.started_at, started = time.monotonic(), 0
        bar = tqdm(total=budget.trials, unit="trial", desc="search", disable=not sys.stderr.isatty())
        try:
            while True:
                while len(self.running) < jobs and budget.allows(started):
                    self.start()
                    started += 1
                if not self.running:
                    break
                self.answer_reports()
                for key in self.done():
                    self.finish(key)
                    bar.update()
                best = self.best_line()
                bar.set_postfix_str(best, refresh=True)
        except (Interrupted, KeyboardInterrupt) as stop:
            self.abandon_running(f"its search was interrupted ({stop})")
            raise
        finally:
            bar.close()
        return started

    def start(self) -> None:
        trial = self.study.ask(self.space.distributions)
        config = self.space.config(trial.params)
        trial.set_user_attr("config", config)
        key = f"t{trial.number}"
        future = self.client.submit(
            worker_side.run_trial, config, TRIAL_SEED, self.splits, self.topic, key, key=f"{self.topic}-{key}"
        )
        self.running[key] = Running(future, trial=trial)
        tqdm.write(f"trial {trial.number} started: {trial.params}")

    def answer_reports(self) -> None:
        """Tell Optuna each reported epoch; send each trial its pruner's word."""
        try:
            event = self.events.get(timeout=POLL_S)
        except queue.Empty:
            return
        while True:
            run = self.running.get(event["key"])
            if run is not None:
                prune = False
                if run.trial is not None:  # a rescoring run is never pruned
                    run.trial.report(event["val_acc"], event["epoch"])
                    prune = run.trial.should_prune()
                Queue(f"{self.topic}-{event['key']}").put(worker_side.PRUNE if prune else worker_side.GO)
                words = f"{event['key']} epoch {event['epoch']}: val acc {event['val_acc']:.4f}"
                tqdm.write(words + (" (pruned: below the median of earlier trials)" if prune else ""))
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def done(self) -> list[str]:
        return [key for key, run in self.running.items() if run.future.done()]

    def finish(self, key: str) -> None:
        """Record how the run `key` ended in the study (a trial also as an experiment if it trained to an end)."""
        run = self.running.pop(key)
        try:
            result = run.future.result()
        except Exception as error:  # the worker died (KilledWorker) or the task could not run
            result = {"outcome": "failed", "reason": f"{type(error).__name__}: {error}", "curve": []}
        if run.rescores is not None:
            self.record_rescore(*run.rescores, result)
            return
        trial = run.trial
        for name, value in result.items():
            trial.set_user_attr(name, value)
        outcome = result["outcome"]
        state = OUTCOME_STATES.get(outcome, TrialState.FAIL)
        value = best_val_acc(result["curve"]) if state == TrialState.COMPLETE else None
        frozen = self.study.tell(trial, value, state=state)
        words = f"{outcome}, best val acc {best_val_acc(result['curve']):.4f}" if result["curve"] else outcome
        reason = f" ({result['reason']})" if result.get("reason") and state != TrialState.PRUNED else ""
        tqdm.write(f"trial {trial.number} {words}{reason} in {result.get('minutes', 0):.1f} min")
        if self.experiments and state != TrialState.FAIL:
            saved = save_experiment(frozen)
            tqdm.write(f"  experiment {saved}" if saved else NOT_SAVED)

    def best_line(self) -> str:
        done = finished(self.study)
        complete = [trial for trial in done if trial.state == TrialState.COMPLETE]
        best = f"best val acc {self.study.best_value:.4f} (trial {self.study.best_trial.number})" if complete else ""
        running = ", ".join(self.running)
        return "; ".join(part for part in (best, f"running: {running or 'none'}") if part)

    def abandon_running(self, reason: str) -> None:
        for run in self.running.values():
            run.future.cancel()
            if run.trial is not None:
                abandon(self.study, run.trial, reason)
        self.running.clear()

    def rescore(self, top: int, seeds: list[int], jobs: int) -> dict[int, dict[int, float]]:
        """Train the `top` complete trials again from each of `seeds` (validation only, never pruned), as many
        as not yet rescored; all their best validation accuracies, trial by trial and seed by seed."""
        best = sorted(
            self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.value, reverse=True
        )[:top]
        rescored = self.rescored()
        todo = [(trial, seed) for trial in best for seed in seeds if seed not in rescored.get(trial.number, {})]
        try:
            while todo or self.running:
                while todo and len(self.running) < jobs:
                    trial, seed = todo.pop(0)
                    key = f"r{trial.number}-{seed}"
                    future = self.client.submit(
                        worker_side.run_trial,
                        trial.user_attrs["config"],
                        seed,
                        self.splits,
                        self.topic,
                        key,
                        key=f"{self.topic}-{key}",
                    )
                    self.running[key] = Running(future, rescores=(trial.number, seed))
                    tqdm.write(f"rescoring trial {trial.number} from seed {seed}")
                self.answer_reports()
                for key in self.done():
                    self.finish(key)
        except (Interrupted, KeyboardInterrupt):
            self.abandon_running("interrupted")
            raise
        rescored = self.rescored()
        return {trial.number: {TRIAL_SEED: trial.value} | rescored.get(trial.number, {}) for trial in best}

    def rescored(self) -> dict[int, dict[int, float]]:
        """Best validation accuracy of each rescoring run done: trial number -> seed -> accuracy."""
        saved = self.study.user_attrs.get("rescored", {})  # JSON keys are strings
        return {int(number): {int(seed): acc for seed, acc in by_seed.items()} for number, by_seed in saved.items()}

    def record_rescore(self, number: int, seed: int, result: dict) -> None:
        if result["outcome"] != "complete":
            tqdm.write(f"rescoring trial {number} from seed {seed}: {result['outcome']} ({result.get('reason')})")
            return
        rescored = self.rescored()
        rescored.setdefault(number, {})[seed] = best_val_acc(result["curve"])
        self.study.set_user_attr("rescored", rescored)
        tqdm.write(f"rescored trial {number} from seed {seed}: best val acc {rescored[number][seed]:.4f}")

    def close(self) -> None:
        self.client.unsubscribe_topic(self.topic)
        # The splits are scattered to the workers; their end loses them, which Dask's scheduler logs as an error.
        logging.getLogger("distributed.scheduler").setLevel(logging.CRITICAL)
