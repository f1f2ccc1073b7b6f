"""Stage `aggregate`: every architecture's results over its seeds; the only stage that reads the per-run files.

    python -m stages.aggregate

Writes the headline (metrics/summary.json, which `dvc metrics show` and `dvc exp show` list) and what
lies behind it, for plot, report and the tools, all kept in git so that every committed figure can be
recomputed from the repository; docs/pipeline.md describes each file and its fields.
"""

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from imdb_rnn.analysis import runs, stats
from imdb_rnn.analysis.aggregated import DIFF, RUNS, VERSUS, Correct, headline, pack_correct, review_count
from imdb_rnn.core.common import atomic_output, run_stage
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.params import StageParams, load_params, seed_list, unique
from imdb_rnn.core.paths import CORRECT_FILE, CURVES_FILE, ESTIMATES_FILE, RUNS_FILE, SUMMARY_FILE


class Params(StageParams):
    archs: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)

    _unique_archs = field_validator("archs")(unique)
    _seeds = field_validator("seeds")(seed_list)


RUN_COLUMNS = (
    "best_epoch",
    "best_val_acc",  # what picks the study's best architecture on validation (tools.ablations' confirmation)
    "train_minutes",
    "diverged",
    "torch",
    "threads",
    "mkl_branch",
    "aten_capability",
    "device",
    "cpu",
)


def run_table(archs: list[str], seeds: list[int]) -> pd.DataFrame:
    """One row per run: arch, seed, both test accuracies, and the train summary's RUN_COLUMNS (None if absent)."""
    rows = []
    for arch in archs:
        for seed in seeds:
            test, train = runs.test_metrics(arch, seed), runs.train_summary(arch, seed)
            row = {"arch": arch, "seed": seed, **{epoch.key: test[epoch.key] for epoch in EPOCHS}}
            rows.append(row | {column: train.get(column) for column in RUN_COLUMNS})
    return pd.DataFrame(rows)


def run_results(table: pd.DataFrame) -> dict[str, dict[str, dict]]:
    """Per arch and seed (as a string key): both epochs' test accuracies and diverged (0 or 1)."""
    results: dict[str, dict[str, dict]] = {}
    for row in table.itertuples():
        values = {epoch.key: getattr(row, epoch.key) for epoch in EPOCHS}
        results.setdefault(row.arch, {})[str(row.seed)] = values | {"diverged": int(row.diverged)}
    return results


def band(values: pd.Series) -> pd.Series:
    """n, mean and the 95% interval's ends (NaN with one value) of one metric's values over seeds."""
    result = stats.estimate(values.tolist())
    low, high = (math.nan, math.nan) if result.half_width is None else (result.low, result.high)
    return pd.Series({"n": result.n, "mean": result.mean, "low": low, "high": high})


def curve_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per arch, split and epoch, over seeds: n and, for acc and loss, the mean with its 95% interval."""
    groups = per_run.groupby(["arch", "split", "epoch"], sort=False)
    columns = {}
    for metric in runs.EPOCH_METRICS:
        bands = groups[metric].apply(band).unstack()
        columns["n"] = bands["n"].astype(int)
        columns |= {metric: bands["mean"], f"{metric}_low": bands["low"], f"{metric}_high": bands["high"]}
    return pd.DataFrame(columns).reset_index()


def correct_runs(archs: list[str], seeds: list[int]) -> Correct:
    """Every run's per-review results, per arch, seed and epoch key; StageError unless all on one test set."""
    correct: Correct = {}
    for arch in archs:
        for seed in seeds:
            correct.setdefault(arch, {})[seed] = runs.correct(arch, seed)
    review_count(correct)
    return correct


def _by_seed(correct: Correct, arch: str, key: str) -> dict:
    return {seed: by_key[key] for seed, by_key in correct[arch].items()}


def summarize(results: dict[str, dict[str, dict]], correct: Correct) -> dict:
    """estimates.json: per arch n, diverged and both accuracies; every pair's differences at both epochs; every run.

    `results` is run_results' per-arch, per-seed table; `correct` the runs' per-review results.
    """
    found: dict = {}
    for arch, by_seed in results.items():
        found[arch] = {
            "n": len(by_seed),
            "diverged": sum(run["diverged"] for run in by_seed.values()),
            **{epoch.key: stats.fields(stats.accuracy(_by_seed(correct, arch, epoch.key))) for epoch in EPOCHS},
        }
    found[DIFF] = {}
    for base, other in combinations(results, 2):
        entry = found[DIFF].setdefault(other, {VERSUS: {}})[VERSUS].setdefault(base, {})
        for epoch in EPOCHS:
            result = stats.difference(_by_seed(correct, base, epoch.key), _by_seed(correct, other, epoch.key))
            entry[epoch.key] = {"n": len(result.paired), **stats.fields(result.estimate)}
    found[RUNS] = results
    return found


def write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, float_format="%.6g")


def main() -> None:
    params = load_params(Params)
    table = run_table(params.archs, params.seeds)
    correct = correct_runs(params.archs, params.seeds)
    estimates = summarize(run_results(table), correct)
    curves = curve_table(pd.concat([runs.curves(arch, seed) for arch in params.archs for seed in params.seeds]))
    with (
        atomic_output(SUMMARY_FILE) as summary_path,
        atomic_output(ESTIMATES_FILE) as estimates_path,
        atomic_output(CURVES_FILE) as curves_path,
        atomic_output(RUNS_FILE) as runs_path,
        atomic_output(CORRECT_FILE) as correct_path,
    ):
        summary_path.write_text(json.dumps(headline(estimates), indent=2) + "\n")
        estimates_path.write_text(json.dumps(estimates, indent=2) + "\n")
        write_csv(curves, curves_path)
        write_csv(table, runs_path)
        with correct_path.open("wb") as file:  # a file object: savez would add .npz to a path
            np.savez_compressed(file, **pack_correct({"": correct}))
    for arch in params.archs:
        for epoch in EPOCHS:
            accuracy = estimates[arch][epoch.key]
            interval = "no interval with one seed" if accuracy["ci95"] is None else f"± {accuracy['ci95']:.4f}"
            n = estimates[arch]["n"]
            print(f"aggregate: {arch} test acc ({epoch.label}) {accuracy['mean']:.4f} {interval} (n = {n})")


if __name__ == "__main__":
    run_stage(main)
