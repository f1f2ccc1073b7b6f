"""Search the model space for the best validation accuracy: `python -m tools.search --trials 20 -j 2`.

Each trial trains one configuration drawn from the space file (search/space.yaml) through the project's own
training code, from seed 0, on the training split, scored on the validation split only: the search never
loads the test split. Optuna's TPE sampler draws, its median pruner stops a trial whose validation accuracy
after an epoch is below the median of earlier trials at that epoch. The study lives in one file committed to
git (search/study.journal), written by this process only; rerun the same command to resume it anywhere. With
--rescore-top, the best trials are trained again from more seeds, on validation only, and the configuration of
the best mean is named.
"""

import argparse
import statistics
from pathlib import Path

import optuna
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import TrialState

from imdb_rnn.core.paths import PROCESSED_DIR
from imdb_rnn.experiments.processes import interruptible
from imdb_rnn.training.data import load_split
from tools.grid.cluster import connect, read_jobqueue
from tools.search.driver import Budget, Driver, send_code
from tools.search.space import load_space, read_data_stats
from tools.search.study import open_study, recover

SPACE_FILE = Path("search/space.yaml")
STUDY_FILE = Path("search/study.journal")
LOGS = Path("search/logs")
IMPORTANCE_TRIALS = 5  # complete trials before parameter importances mean anything


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.search", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials this run may start (default 10)")
    parser.add_argument("--hours", type=float, help="start no trial after this many hours (default: no limit)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="trials at once (default 1), each at its threads")
    parser.add_argument("--space", type=Path, default=SPACE_FILE, help=f"the space file (default {SPACE_FILE})")
    parser.add_argument("--study", type=Path, default=STUDY_FILE, help=f"the study file (default {STUDY_FILE})")
    parser.add_argument("--data", type=Path, default=PROCESSED_DIR, help="tokenized splits (default data/processed)")
    parser.add_argument("--startup-trials", type=int, default=8, help="random trials before TPE and pruning (8)")
    parser.add_argument("--warmup-epochs", type=int, default=2, help="epochs a trial runs before it can be pruned")
    parser.add_argument("--rescore-top", type=int, default=0, help="then train the N best again from more seeds")
    parser.add_argument("--rescore-seeds", type=int, nargs="+", default=[1, 2], help="their seeds (default 1 2)")
    parser.add_argument("--no-experiments", action="store_true", help="do not log trials as DVC experiments")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="a running Dask scheduler's address (default: a local cluster of -j)")
    where.add_argument("--jobqueue", type=Path, help="a dask-jobqueue YAML file (SLURM, PBS ...; docs/grid.md)")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="seconds for the workers to join (60)")
    args = parser.parse_args(argv)
    for name in ("trials", "jobs"):
        if getattr(args, name) < (0 if name == "trials" else 1):
            parser.error(f"--{name} = {getattr(args, name)}: give {'0 or more' if name == 'trials' else '1 or more'}")
    if args.hours is not None and args.hours <= 0:
        parser.error(f"--hours = {args.hours:g}: give a positive number of hours")
    if args.jobqueue:
        try:
            args.jobqueue = read_jobqueue(args.jobqueue)
        except ValueError as error:
            parser.error(f"--jobqueue: {error}")
    return args


def summary(study, rescored: dict[int, dict[int, float]]) -> None:
    """The study's counts, its best trial, and with rescoring the configuration of the best mean."""
    states = [trial.state for trial in study.trials]
    counts = ", ".join(f"{states.count(state)} {state.name.lower()}" for state in TrialState if states.count(state))
    print(f"study: {len(states)} trials ({counts or 'none yet'})")
    complete = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        print(f"best trial {best.number}: val acc {best.value:.4f} with {best.params}")
    if len(complete) >= IMPORTANCE_TRIALS:  # fANOVA over the complete trials: what moved validation accuracy
        importances = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
        print("importance (fANOVA): " + ", ".join(f"{name} {share:.2f}" for name, share in importances.items()))
    if rescored:
        means = {number: statistics.fmean(by_seed.values()) for number, by_seed in rescored.items()}
        for number, by_seed in rescored.items():
            seeds = ", ".join(f"seed {seed} {acc:.4f}" for seed, acc in sorted(by_seed.items()))
            print(f"trial {number}: mean val acc {means[number]:.4f} over {len(by_seed)} seeds ({seeds})")
        chosen = max(means, key=means.get)
        study.set_user_attr("chosen", chosen)
        print(f"chosen on validation: trial {chosen}, {study.trials[chosen].params}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rescored: dict[int, dict[int, float]] = {}
    if args.trials == 0 and not args.rescore_top:  # the study as it stands: no space, data or cluster
        summary(open_study(args.study, args.startup_trials, args.warmup_epochs), rescored)
        return
    space = load_space(args.space, read_data_stats(args.data))  # before any trial: a wrong value stops here
    study = open_study(args.study, args.startup_trials, args.warmup_epochs)
    if stranded := recover(study):
        print(f"trials {stranded} were left running by a search that did not end: marked failed, queued again")
    splits = {split: load_split(split, args.data) for split in ("train", "val")}  # never the test split
    with interruptible("its running trials were marked failed and queued again"):
        with connect(args.scheduler, args.jobqueue, args.jobs, args.connect_timeout, LOGS) as client:
            if args.scheduler or args.jobqueue:  # local workers import the code from this checkout
                send_code(client)
            driver = Driver(study, space, client, client.scatter(splits, broadcast=True), not args.no_experiments)
            try:
                driver.run(Budget(args.trials, args.hours), args.jobs)
                if args.rescore_top:
                    rescored = driver.rescore(args.rescore_top, args.rescore_seeds, args.jobs)
            finally:
                driver.close()
    summary(study, rescored)
