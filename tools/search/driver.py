"""The driver: asks Optuna for configurations, runs them as Dask tasks, prunes them, tells Optuna how they ended.

It alone writes the study file. Each epoch a run reports (a Dask event) goes to Optuna's pruner, whose word
goes back on the run's queue with the epoch it answers. A finished trial is recorded in the study, then
logged as a DVC experiment. Ctrl-C or SIGTERM: the running trials are told to stop, marked failed and queued
again, so a rerun resumes.
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
from dataclasses import dataclass, field
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
from tools.search.space import Space, narrowing_problems
from tools.search.study import abandon, best_val_acc, rescored

POLL_S = 1.0
TRIAL_SEED = 0
OUTCOME_STATES = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}
NOT_SAVED = (
    "  not saved as a DVC experiment (dvclive's warning above says why; `dvc exp save` needs the pipeline's outputs "
    "in the workspace: dvc pull or dvc repro). The study file holds the trial all the same."
)


def say(line: str) -> None:
    """A line above the progress bar, flushed (a log read while the search runs, or after a SIGKILL, has it)."""
    tqdm.write(line)
    sys.stdout.flush()


def prepare_workers(client: Client) -> None:
    """Give remote workers the code a trial runs (the library, the stages, this package) as a zip on their path;
    refuse workers of more than one thread (trials sharing a process would share torch's global state) or whose
    torch or dvclive differ from the driver's (their numbers or logs would differ)."""
    threads = {worker: info["nthreads"] for worker, info in client.scheduler_info()["workers"].items()}
    if many := [f"{worker} ({count} threads)" for worker, count in threads.items() if count != 1]:
        raise StageError(f"start each worker with one thread (dask worker --nthreads 1): {', '.join(many)}")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch, "tools-search-trial.zip")
        with zipfile.ZipFile(archive, "w") as zipped:
            for pattern in ("tools/__init__.py", "tools/search/*.py", "stages/*.py", "imdb_rnn/**/*.py"):
                for source in glob.glob(pattern, recursive=True):
                    zipped.write(source)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if client.cluster is None:  # a scheduler in a process of its own unpickles the tasks: it needs them too
                client.register_plugin(SchedulerUploadFile(str(archive)), name=archive.name)
            client.register_plugin(UploadFile(str(archive)), name=archive.name)
            client.get_versions(check=True, packages=["torch", "dvclive"])
    if problems := [str(w.message) for w in caught if "Mismatched versions" in str(w.message)]:
        raise StageError("the workers' packages differ from this machine's:\n" + "\n".join(problems))


@dataclass
class Running:
    """A training on a worker: a search trial (`trial`), or a rescoring run of trial `rescores[0]` from seed
    `rescores[1]`, never pruned."""

    future: Future
    replies: Queue
    epochs: int
    trial: optuna.Trial | None = None
    rescores: tuple[int, int] | None = None


@dataclass
class Budget:
    trials: int  # trials this run may start (a retried one included)
    hours: float | None  # no trial starts after this many hours
    started_at: float = field(default_factory=time.monotonic)

    def allows(self, started: int) -> bool:
        late = self.hours is not None and time.monotonic() - self.started_at > self.hours * 3600
        return started < self.trials and not late


class Driver:
    def __init__(
        self, study: optuna.Study, space: Space, data_stats: dict, client: Client, splits: Any, experiments: bool
    ) -> None:
        self.study, self.space, self.data_stats = study, space, data_stats
        self.client, self.splits, self.experiments = client, splits, experiments
        self.topic = f"search-{uuid.uuid4().hex}"
        self.events: queue.Queue = queue.Queue()
        self.running: dict[str, Running] = {}
        client.subscribe_topic(self.topic, lambda event: self.events.put(event[1]))

    def run(self, budget: Budget, jobs: int) -> None:
        """Run trials, `jobs` at once, until the budget is spent."""
        started = 0
        bar = tqdm(total=budget.trials, unit="trial", desc="search", disable=not sys.stderr.isatty())
        try:
            while True:
                while len(self.running) < jobs and budget.allows(started):
                    self.start_trial()
                    started += 1
                if not self.running:
                    break
                bar.update(self.step())
                bar.set_postfix_str(self.best_line(), refresh=True)
        except Interrupted as stop:
            self.stop_running(f"its search was interrupted ({stop})")
            raise
        finally:
            bar.close()

    def rescore(self, top: int, seeds: list[int], jobs: int) -> None:
        """Train the `top` complete trials again from each of `seeds` not done yet (validation only, never pruned)."""
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = rescored(self.study)
        todo = [
            (trial, seed)
            for trial in sorted(complete, key=lambda trial: trial.value, reverse=True)[:top]
            for seed in seeds
            if seed not in done.get(trial.number, {})
        ]
        try:
            while todo or self.running:
                while todo and len(self.running) < jobs:
                    trial, seed = todo.pop(0)
                    self.submit(
                        f"r{trial.number}-{seed}", trial.user_attrs["config"], seed, rescores=(trial.number, seed)
                    )
                    say(f"rescoring trial {trial.number} from seed {seed}")
                self.step()
        except Interrupted:
            self.stop_running("its search was interrupted")
            raise

    def start_trial(self) -> None:
        trial = self.study.ask(self.space.distributions)
        config = self.space.config(trial.params)
        trial.set_user_attr("config", config)
        if problems := narrowing_problems(config, self.data_stats):  # a retry drawn from another data's space
            trial.set_user_attr("outcome", "failed")
            trial.set_user_attr("reason", "; ".join(problems))
            self.study.tell(trial, state=TrialState.FAIL)
            say(f"trial {trial.number} failed: {'; '.join(problems)}")
            return
        self.submit(f"t{trial.number}", config, TRIAL_SEED, trial=trial)
        say(f"trial {trial.number} started: {trial.params}")

    def submit(self, key: str, config: dict, seed: int, **role: Any) -> None:
        future = self.client.submit(
            worker_side.run_trial, config, seed, self.splits, self.topic, key, key=f"{self.topic}-{key}"
        )
        self.running[key] = Running(future, Queue(f"{self.topic}-{key}"), config["epochs"], **role)

    def step(self) -> int:
        """Answer the epochs reported within POLL_S, then record the runs that ended; how many trials ended."""
        try:
            event = self.events.get(timeout=POLL_S)
            while True:
                self.answer(event)
                event = self.events.get_nowait()
        except queue.Empty:
            pass
        ended = [key for key, run in self.running.items() if run.future.done()]
        return sum(self.finish(key) for key in ended)

    def answer(self, event: dict) -> None:
        """Tell Optuna a reported epoch, and the run whether to go on (never stopped at its last epoch)."""
        run = self.running.get(event["key"])
        if run is None:  # a run already recorded (its report raced its end)
            return
        prune = False
        if run.trial is not None:
            run.trial.report(event["val_acc"], event["epoch"])
            prune = event["epoch"] < run.epochs and run.trial.should_prune()
        run.replies.put((event["epoch"], worker_side.PRUNE if prune else worker_side.GO))
        words = f"{event['key']} epoch {event['epoch']}: val acc {event['val_acc']:.4f}"
        say(words + (" (pruned: below the median of earlier trials at this epoch)" if prune else ""))

    def finish(self, key: str) -> bool:
        """Record how the run `key` ended (a trial also as an experiment if it trained); whether it was a trial."""
        run = self.running.pop(key)
        try:
            result = run.future.result()
        except Exception as error:  # the worker died (KilledWorker) or the task could not run
            result = {"outcome": "failed", "reason": f"{type(error).__name__}: {error}", "curve": []}
        if run.rescores is not None:
            self.record_rescore(*run.rescores, result)
            return False
        trial = run.trial
        for name, value in result.items():
            trial.set_user_attr(name, value)
        state = OUTCOME_STATES.get(result["outcome"], TrialState.FAIL)
        best = best_val_acc(result["curve"]) if result["curve"] else None
        frozen = self.study.tell(trial, best if state == TrialState.COMPLETE else None, state=state)
        words = result["outcome"] + (f", best val acc {best:.4f}" if best is not None else "")
        reason = f" ({result['reason']})" if result.get("reason") and state != TrialState.PRUNED else ""
        say(f"trial {trial.number} {words}{reason} in {result.get('minutes', 0):.1f} min")
        if self.experiments and state != TrialState.FAIL:
            saved = save_experiment(frozen)
            say(f"  experiment {saved}" if saved else NOT_SAVED)
        return True

    def record_rescore(self, number: int, seed: int, result: dict) -> None:
        if result["outcome"] != "complete":
            say(f"rescoring trial {number} from seed {seed}: {result['outcome']} ({result.get('reason')})")
            return
        done = rescored(self.study)
        done.setdefault(number, {})[seed] = best_val_acc(result["curve"])
        self.study.set_user_attr("rescored", done)
        say(f"rescored trial {number} from seed {seed}: best val acc {done[number][seed]:.4f}")

    def best_line(self) -> str:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = f"best val acc {self.study.best_value:.4f} (trial {self.study.best_trial.number}); " if complete else ""
        return f"{best}running: {', '.join(self.running) or 'none'}"

    def stop_running(self, reason: str) -> None:
        """Record the runs that ended; tell the others to stop, and mark their trials failed and queued again."""
        for key in [key for key, run in self.running.items() if run.future.done()]:
            self.finish(key)
        for run in self.running.values():
            run.replies.put((None, worker_side.PRUNE))  # a running task ignores cancel(): it stops at its next epoch
            run.future.cancel()
            if run.trial is not None:
                abandon(self.study, run.trial, reason)
        self.running.clear()

    def close(self) -> None:
        self.client.unsubscribe_topic(self.topic)
        # The splits are scattered to the workers; their end loses them, which Dask's scheduler logs as an error.
        logging.getLogger("distributed.scheduler").setLevel(logging.CRITICAL)
