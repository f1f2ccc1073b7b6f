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
import yaml
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import TrialState

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PARAMS_FILE, PROCESSED_DIR
from imdb_rnn.experiments.processes import interruptible
from imdb_rnn.training.data import Split, load_split
from tools.grid.cluster import connect, read_jobqueue
from tools.search import figure
from tools.search.driver import TRIAL_SEED, Budget, Driver, prepare_workers
from tools.search.space import load_space, read_data_stats
from tools.search.study import confirmation_entry, driving, open_study, recover, rescored

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
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="choose none whose seed-0 training took longer (the cost budget; default none)",
    )
    parser.add_argument("--plot", type=Path, help="draw the trials' curves and the importances to this PNG")
    parser.add_argument("--no-experiments", action="store_true", help="do not log trials as DVC experiments")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="a running Dask scheduler's address (default: a local cluster of -j)")
    where.add_argument("--jobqueue", type=Path, help="a dask-jobqueue YAML file (SLURM, PBS ...; docs/grid.md)")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="seconds for the workers to join (60)")
    args = parser.parse_args(argv)
    for name, least in {"trials": 0, "jobs": 1, "startup_trials": 1, "warmup_epochs": 0, "rescore_top": 0}.items():
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} = {getattr(args, name)}: give {least} or more")
    if any(seed < 0 for seed in args.rescore_seeds) or TRIAL_SEED in args.rescore_seeds:
        parser.error(f"--rescore-seeds {args.rescore_seeds}: seeds other than {TRIAL_SEED} (the trials'), 1 or more")
    if args.max_minutes is not None and args.max_minutes <= 0:
        parser.error(f"--max-minutes = {args.max_minutes:g}: give a positive number of minutes")
    if args.hours is not None and args.hours <= 0:
        parser.error(f"--hours = {args.hours:g}: give a positive number of hours")
    if args.jobqueue:
        try:
            args.jobqueue = read_jobqueue(args.jobqueue)
        except ValueError as error:
            parser.error(f"--jobqueue: {error}")
    return args


def summary(
    study: optuna.Study, rescoring_seeds: list[int], max_minutes: float | None = None, plot: Path | None = None
) -> None:
    """The study's counts, its best trial, fANOVA importances, and with rescoring the choice: the best mean over
    the rescoring seeds among the trials whose seed-0 training took at most `max_minutes` (the cost budget);
    with `plot`, the curves and importances drawn there (figure.py)."""
    states = [trial.state for trial in study.trials]
    counts = ", ".join(f"{states.count(state)} {state.name.lower()}" for state in TrialState if states.count(state))
    print(f"study: {len(states)} trials ({counts or 'none yet'})")
    complete = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        print(f"best trial {best.number}: val acc {best.value:.4f} with {best.params}")
    importances = {}
    if len(complete) >= IMPORTANCE_TRIALS:  # fANOVA over the complete trials: what moved validation accuracy
        importances = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
        print("importance (fANOVA): " + ", ".join(f"{name} {share:.2f}" for name, share in importances.items()))
    if plot is not None:
        figure.draw(study, importances, plot)
        print(f"figure: {plot}")
    # Chosen by the mean over the rescoring seeds alone: seed 0's score picked the trials, so it is biased up.
    means, scored = {}, rescored(study)
    for number, by_seed in scored.items():
        scores = ", ".join(f"seed {seed} {acc:.4f}" for seed, acc in sorted(by_seed.items()))
        minutes = study.trials[number].user_attrs["minutes"]
        shown = f"trial {number} ({minutes:.1f} min): seed 0 {study.trials[number].value:.4f}; {scores}"
        if not all(seed in by_seed for seed in rescoring_seeds):
            print(f"{shown}; not every seed yet")
        elif max_minutes is not None and minutes > max_minutes:
            print(f"{shown}; over the cost budget of {max_minutes:g} min: not chosen")
        else:
            means[number] = statistics.fmean(by_seed[seed] for seed in rescoring_seeds)
            print(f"{shown}; mean {means[number]:.4f}")
    if not scored:
        return
    chosen = max(means, key=means.get) if means else None
    study.set_user_attr("chosen", chosen)
    study.set_user_attr("chosen_within_minutes", max_minutes)
    if chosen is None:
        print("chosen on validation: none (no rescored trial has every seed within the cost budget)")
    else:
        entry = confirmation_entry(study.trials[chosen].user_attrs["config"], yaml.safe_load(PARAMS_FILE.read_text()))
        print(f"chosen on validation: trial {chosen}; as a claims.yaml entry (tools.ablations): {entry}")


def load_splits(data: Path) -> dict[str, Split]:
    """The training and validation splits in `data`: never the test split."""
    try:
        return {split: load_split(split, data) for split in ("train", "val")}
    except (FileNotFoundError, OSError) as error:
        raise StageError(f"cannot read the tokenized splits in {data} ({error}): run `dvc repro tokenize`") from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.trials == 0 and not args.rescore_top:  # the study as it stands: no space, data or cluster
        if not args.study.is_file():
            raise StageError(f"no study at {args.study} yet: run a search (python -m tools.search --trials N)")
        summary(
            open_study(args.study, args.startup_trials, args.warmup_epochs),
            args.rescore_seeds,
            args.max_minutes,
            args.plot,
        )
        return
    stats = read_data_stats(args.data)
    space = load_space(args.space, stats)  # before any trial: a wrong value stops here
    splits = load_splits(args.data)
    with driving(args.study), interruptible("its running trials were marked failed and queued again"):
        study = open_study(args.study, args.startup_trials, args.warmup_epochs)
        if stranded := recover(study):
            print(f"trials {stranded} were left running by a search that did not end: marked failed, queued again")
        with connect(args.scheduler, args.jobqueue, args.jobs, args.connect_timeout, LOGS) as client:
            if args.scheduler or args.jobqueue:  # local workers import the code from this checkout
                prepare_workers(client)
            scattered = client.scatter(splits, broadcast=True)
            driver = Driver(study, space, stats, client, scattered, not args.no_experiments)
            try:
                driver.run(Budget(args.trials, args.hours), args.jobs)
                if args.rescore_top:
                    driver.rescore(args.rescore_top, args.rescore_seeds, args.jobs)
            finally:
                driver.close()
        summary(study, args.rescore_seeds, args.max_minutes, args.plot)
