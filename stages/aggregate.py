"""Stage `aggregate`: every architecture's results over its seeds, in one metrics file.

    python -m stages.aggregate

Writes metrics/summary.json, which `dvc metrics show` and `dvc exp show` list as columns:
  <arch>.n, <arch>.diverged                  runs, and how many of them diverged
  <arch>.test_acc.{mean,std,ci95}            test accuracy of the best-validation epoch: mean, standard
                                             deviation and 95% Student-t half-width (absent with one seed)
  <arch>.final_test_acc.{mean,std,ci95}      the same for the last epoch (the report's protocol)
  diff.<b>-<a>.{n,mean,low,high}             test accuracy of b minus a, paired by seed, with its 95% interval
  runs.<arch>.<seed>.{test_acc,final_test_acc,diverged}   every run, for `stages.compare`
"""

import json
from itertools import combinations

from stages.common import atomic_output, run_stage
from stages.params import load_params
from stages.paths import SUMMARY_FILE
from stages.runs import ACCURACIES, test_metrics, train_summary
from stages.stats import Estimate, estimate, paired_difference

DIGITS = 6


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def estimate_fields(result: Estimate) -> dict:
    return {"mean": _rounded(result.mean), "std": _rounded(result.std), "ci95": _rounded(result.half_width)}


def run_results(arch: str, seeds: list[int]) -> dict[str, dict]:
    """Per seed (as a string key): test_acc, final_test_acc and diverged (0 or 1) of one architecture."""
    results = {}
    for seed in seeds:
        test, train = test_metrics(arch, seed), train_summary(arch, seed)
        results[str(seed)] = {**{key: test[key] for key in ACCURACIES}, "diverged": int(train["diverged"])}
    return results


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


def main() -> None:
    params = load_params()
    summary = summarize({arch: run_results(arch, params.seeds) for arch in params.archs})
    with atomic_output(SUMMARY_FILE) as staged:
        staged.write_text(json.dumps(summary, indent=2) + "\n")
    for arch in params.archs:
        accuracy = summary[arch]["test_acc"]
        interval = "no interval with one seed" if accuracy["ci95"] is None else f"± {accuracy['ci95']:.4f}"
        print(f"aggregate: {arch} test acc {accuracy['mean']:.4f} {interval} (n = {summary[arch]['n']})")


if __name__ == "__main__":
    run_stage(main)
