"""Stage `aggregate`: every architecture's results over its seeds; the only stage that reads the per-run files.

    python -m stages.aggregate

Writes, for plot, report and tools.compare (all kept in git, so that every committed figure can be
recomputed from the repository):
  metrics/curves.csv   per arch, split and epoch over seeds: n, and the mean of acc and loss with its
                       95% interval (acc_low, acc_high, ...; empty with one seed)
  metrics/runs.csv     one row per run: arch, seed, both test accuracies, best epoch, minutes, diverged,
                       and where it ran (torch, threads, device, cpu)
  metrics/correct.npz  per run and epoch, which test reviews it classified right (bits packed, keys
                       `<arch>/<seed>/<best|last>`), for the test set's share of the uncertainty
  metrics/summary.json, which `dvc metrics show` and `dvc exp show` list as columns:
  <arch>.n, <arch>.diverged                  runs, and how many of them diverged
  <arch>.test_acc.{mean,std,ci95}            test accuracy of the best-validation epoch: mean, standard
                                             deviation and 95% Student-t half-width (absent with one seed)
  <arch>.final_test_acc.{mean,std,ci95}      the same for the last epoch (the report's protocol)
  diff.<b>-<a>.{n,mean,low,high}             test accuracy of b minus a, paired by seed, with its 95% interval
  runs.<arch>.<seed>.{test_acc,final_test_acc,diverged}   every run, for `tools.compare`
"""

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from imdb_rnn import runs
from imdb_rnn.aggregated import ACCURACIES
from imdb_rnn.common import atomic_output, run_stage
from imdb_rnn.params import StageParams, load_params, unique
from imdb_rnn.paths import CORRECT_FILE, CURVES_FILE, RUNS_FILE, SUMMARY_FILE
from imdb_rnn.stats import Estimate, estimate, paired_difference


class Params(StageParams):
    archs: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)

    _unique_archs = field_validator("archs")(unique)

    @field_validator("seeds")
    @classmethod
    def _unique_non_negative(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds):
            raise ValueError("seeds must be at least 0")
        return unique(seeds)


DIGITS = 6


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def estimate_fields(result: Estimate) -> dict:
    return {"mean": _rounded(result.mean), "std": _rounded(result.std), "ci95": _rounded(result.half_width)}


RUN_COLUMNS = ("best_epoch", "train_minutes", "diverged", "torch", "threads", "device", "cpu")


def run_table(archs: list[str], seeds: list[int]) -> pd.DataFrame:
    """One row per run: arch, seed, both test accuracies, and the train summary's RUN_COLUMNS (None if absent)."""
    rows = []
    for arch in archs:
        for seed in seeds:
            test, train = runs.test_metrics(arch, seed), runs.train_summary(arch, seed)
            row = {"arch": arch, "seed": seed, **{key: test[key] for key in ACCURACIES}}
            rows.append(row | {column: train.get(column) for column in RUN_COLUMNS})
    return pd.DataFrame(rows)


def run_results(table: pd.DataFrame) -> dict[str, dict[str, dict]]:
    """Per arch and seed (as a string key): test_acc, final_test_acc and diverged (0 or 1)."""
    results: dict[str, dict[str, dict]] = {}
    for row in table.itertuples():
        values = {key: getattr(row, key) for key in ACCURACIES}
        results.setdefault(row.arch, {})[str(row.seed)] = values | {"diverged": int(row.diverged)}
    return results


def band(values: pd.Series) -> pd.Series:
    """n, mean and the 95% interval's ends (NaN with one value) of one metric's values over seeds."""
    result = estimate(values.tolist())
    low, high = (math.nan, math.nan) if result.half_width is None else (result.low, result.high)
    return pd.Series({"n": result.n, "mean": result.mean, "low": low, "high": high})


def curve_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per arch, split and epoch, over seeds: n and, for acc and loss, the mean with its 95% interval."""
    groups = per_run.groupby(["arch", "split", "epoch"], sort=False)
    columns = {}
    for metric in runs.EPOCH_METRICS:
        stats = groups[metric].apply(band).unstack()
        columns["n"] = stats["n"].astype(int)
        columns |= {metric: stats["mean"], f"{metric}_low": stats["low"], f"{metric}_high": stats["high"]}
    return pd.DataFrame(columns).reset_index()


def correct_arrays(archs: list[str], seeds: list[int]) -> dict[str, np.ndarray]:
    """Every run's per-review results, bits packed, keyed `<arch>/<seed>/<epoch>`."""
    return {
        f"{arch}/{seed}/{epoch}": np.packbits(right)
        for arch in archs
        for seed in seeds
        for epoch, right in runs.correct(arch, seed).items()
    }


def summarize(runs: dict[str, dict[str, dict]]) -> dict:
    """The summary of per-architecture, per-seed results (as run_results gives them)."""
    summary: dict = {}
    for arch, by_seed in runs.items():
        summary[arch] = {
            "n": len(by_seed),
            "diverged": sum(run["diverged"] for run in by_seed.values()),
            **{key: estimate_fields(estimate([run[key] for run in by_seed.values()])) for key in ACCURACIES},
        }
    summary["diff"] = {}
    for base, other in combinations(runs, 2):
        accuracy = {arch: {int(seed): run["test_acc"] for seed, run in runs[arch].items()} for arch in (base, other)}
        result = paired_difference(accuracy[base], accuracy[other])
        summary["diff"][f"{other}-{base}"] = {
            "n": result.n_base,
            "mean": _rounded(result.mean),
            "low": _rounded(result.low),
            "high": _rounded(result.high),
        }
    summary["runs"] = runs
    return summary


def write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, float_format="%.6g")


def main() -> None:
    params = load_params(Params)
    table = run_table(params.archs, params.seeds)
    summary = summarize(run_results(table))
    curves = curve_table(pd.concat([runs.curves(arch, seed) for arch in params.archs for seed in params.seeds]))
    correct = correct_arrays(params.archs, params.seeds)
    with (
        atomic_output(SUMMARY_FILE) as summary_path,
        atomic_output(CURVES_FILE) as curves_path,
        atomic_output(RUNS_FILE) as runs_path,
        atomic_output(CORRECT_FILE) as correct_path,
    ):
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        write_csv(curves, curves_path)
        write_csv(table, runs_path)
        with correct_path.open("wb") as file:  # a file object: savez would add .npz to a path
            np.savez_compressed(file, **correct)
    for arch in params.archs:
        accuracy = summary[arch]["test_acc"]
        interval = "no interval with one seed" if accuracy["ci95"] is None else f"± {accuracy['ci95']:.4f}"
        print(f"aggregate: {arch} test acc {accuracy['mean']:.4f} {interval} (n = {summary[arch]['n']})")


if __name__ == "__main__":
    run_stage(main)
