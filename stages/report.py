"""Stage `report`: reports/results.md, this run's results on one page, with a verdict on every claim of the report.

    python -m stages.report

Per architecture: the number of seeds, the mean test accuracy with its 95% interval (best-validation
epoch and last epoch), the report's figure beside ours, and how many runs diverged (their accuracies
count in the means). Then the paired differences between architectures, the verdict on each claim of
the report (imdb_rnn/published.py), every run, the setup (data, device, params) and the figures. The
means, intervals and differences are those the aggregate stage wrote; only the claims are judged here.
"""

from pathlib import Path

import pandas as pd
import yaml

from imdb_rnn import aggregated, published
from imdb_rnn.common import atomic_output, read_json, run_stage
from imdb_rnn.params import StageParams, load_params
from imdb_rnn.paths import DATA_SOURCE_FILE, PLOTS_DIR, REPORT_FILE
from imdb_rnn.published import Claim
from imdb_rnn.stats import Difference, paired_difference


class Params(StageParams):
    """The params that shape the results, shown in the report's setup section."""

    archs: list[str]
    seeds: list[int]
    epochs: int
    vocab_size: int
    seq_len: int
    truncate: str
    embed_dim: int
    hidden: int
    pooling: str
    loss: str
    batch_size: int
    trim_batches: bool
    lr: float
    weight_decay: float
    threads: int


FIGURES = {"Accuracy per epoch": "accuracy.png", "Loss per epoch": "loss.png", "Test accuracy": "test_accuracy.png"}
# The claims are judged on both accuracies, the report's own protocol (the last epoch) first.
JUDGED = {key: aggregated.ACCURACIES[key] for key in ("final_test_acc", "test_acc")}
NO_INTERVAL = "none (one seed)"


def points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{value * 100:+.2f}"


def interval(low: float | None, high: float | None, scale: float = 1, digits: int = 4, sign: str = "") -> str:
    if low is None or high is None:
        return NO_INTERVAL
    return f"[{low * scale:{sign}.{digits}f}, {high * scale:{sign}.{digits}f}]"


def points_interval(low: float | None, high: float | None) -> str:
    """The interval of an accuracy difference, in signed percentage points."""
    return interval(low, high, scale=100, digits=2, sign="+")


def mean_with_interval(stats: dict) -> str:
    """`mean [low, high]` from the aggregate's mean and ci95 of one accuracy."""
    half = stats.get("ci95")
    low, high = (None, None) if half is None else (stats["mean"] - half, stats["mean"] + half)
    return f"{stats['mean']:.4f} {interval(low, high)}"


def seed_values(summary: dict, arch: str, key: str) -> dict[int, float]:
    return {int(seed): run[key] for seed, run in summary["runs"][arch].items()}


def judge_threshold(claim: Claim, stats: dict) -> str:
    """Whether the 95% interval of `claim.other`'s accuracy lies above or below the THRESHOLD."""
    detail = f"{claim.other} {mean_with_interval(stats)}"
    half = stats.get("ci95")
    if half is None:
        return f"not detectable at this n ({detail})"
    low, high, threshold = stats["mean"] - half, stats["mean"] + half, published.THRESHOLD
    if low <= threshold <= high:
        return f"not detectable at this n: the interval contains {threshold} ({detail})"
    is_above = low > threshold
    verdict = "holds" if is_above == (claim.kind == "above") else "does not hold"
    return f"{verdict}: {'above' if is_above else 'below'} {threshold} ({detail})"


def judge_difference(claim: Claim, summary: dict, key: str) -> str:
    """A claim on two architectures, from the paired difference of their runs (other − base)."""
    result = paired_difference(seed_values(summary, claim.base, key), seed_values(summary, claim.other, key))
    detail = (
        f"{claim.other} − {claim.base} = {points(result.mean)} points, "
        f"95% interval {points_interval(result.low, result.high)}, n = {result.n_base} paired seeds"
    )
    if result.low is None:
        return f"not detectable at this n ({detail})"
    if claim.kind == "better":
        if result.low > 0:
            return f"holds ({detail})"
        if result.high < 0:
            return f"does not hold: the opposite is detectable ({detail})"
        return f"not detectable at this n ({detail})"
    margin = published.EQUIVALENCE_MARGIN
    if -margin < result.low and result.high < margin:
        return f"holds: the difference is within ±{margin * 100:.0f} point ({detail})"
    if result.low >= margin or result.high <= -margin:
        return f"does not hold: the difference exceeds {margin * 100:.0f} point ({detail})"
    return f"not detectable at this n: the interval is not within ±{margin * 100:.0f} point ({detail})"


def judge(claim: Claim, summary: dict, key: str) -> str:
    """The verdict on `claim` from accuracy `key`: holds, does not hold, or not detectable at this n."""
    if claim.kind in ("above", "below"):
        return judge_threshold(claim, summary[claim.other][key])
    return judge_difference(claim, summary, key)


def architecture_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for arch in archs:
        reported = published.TEST_ACCURACY.get(arch)
        rows.append(
            {
                "arch": arch,
                "seeds": summary[arch]["n"],
                **{
                    f"test acc, {label} [95% CI]": mean_with_interval(summary[arch][key])
                    for key, label in aggregated.ACCURACIES.items()
                },
                "the report (last epoch, 1 run)": "-" if reported is None else f"{reported:.4f}",
                "diverged": f"{summary[arch]['diverged']} of {summary[arch]['n']}",
            }
        )
    return pd.DataFrame(rows)


def difference_table(summary: dict) -> pd.DataFrame:
    rows = []
    for pair, diff in summary["diff"].items():
        other = pair.split("-")[0]
        verdict = Difference("paired", diff["n"], diff["n"], diff["mean"], diff["low"], diff["high"]).verdict
        if verdict in ("better", "worse"):
            verdict = f"{other} {verdict}"
        rows.append(
            {
                "difference (best-val epoch)": pair.replace("-", " − ", 1),
                "n": diff["n"],
                "mean (points)": points(diff["mean"]),
                "95% interval (points)": points_interval(diff["low"], diff["high"]),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def claims_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for claim in published.ARCHITECTURE_CLAIMS:
        if claim.other in archs and (claim.base is None or claim.base in archs):
            rows.append(
                {
                    "the report's claim": claim.text,
                    **{label: judge(claim, summary, key) for key, label in JUDGED.items()},
                }
            )
    return pd.DataFrame(rows, columns=["the report's claim", *JUDGED.values()])


def runs_table(archs: list[str], seeds: list[int]) -> pd.DataFrame:
    """Every run of these archs and seeds, from the aggregate's per-run table."""
    table = aggregated.runs()
    table = table[table["arch"].isin(archs) & table["seed"].isin(seeds)]
    return pd.DataFrame(
        {
            "arch": table["arch"],
            "seed": table["seed"],
            "test acc": table["test_acc"].map("{:.4f}".format),
            "last-epoch test acc": table["final_test_acc"].map("{:.4f}".format),
            "best epoch": table["best_epoch"],
            "train minutes": table["train_minutes"].map("{:.2f}".format),
            "diverged": table["diverged"].map({True: "yes", False: "no"}),
            "where": table["device"] + ", " + table["threads"].astype(str) + " thread(s), " + table["cpu"],
        }
    )


def markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, disable_numparse=True)


def render(params: Params, summary: dict, per_run: pd.DataFrame, source: dict) -> str:
    """The report's markdown."""
    used = yaml.safe_dump(params.model_dump(), sort_keys=False, default_flow_style=None)
    figures = "\n\n".join(f"![{title}]({Path('..', PLOTS_DIR, name).as_posix()})" for title, name in FIGURES.items())
    claims = claims_table(summary, params.archs)
    margin = published.EQUIVALENCE_MARGIN * 100
    return f"""# Results

{len(params.seeds)} training seeds per architecture ({", ".join(map(str, params.seeds))}), {params.epochs} epochs
each. Every accuracy is the mean over the seeds with its 95% Student-t interval (none with one seed); a
diverged run counts in the mean. *best-validation epoch*: the model of the epoch with the best
validation accuracy; *last epoch*: the model after epoch {params.epochs}, as the report quotes it (one run
per architecture).

{markdown(architecture_table(summary, params.archs))}

## Differences between architectures

Test accuracy (best-validation epoch) of one architecture minus another's, paired by seed: a difference
whose interval contains 0 is not detectable at this n.

{markdown(difference_table(summary)) if summary["diff"] else "One architecture: nothing to compare."}

## The report's claims

A claim that two differ little holds when the whole 95% interval of their difference lies within
±{margin:.0f} point, and does not hold when it lies outside; otherwise it is not detectable at this n.

{markdown(claims) if len(claims) else "None of the report's architecture claims concerns these archs."}

## Every run

{markdown(per_run)}

## Setup

- data: {source["url"]} (archive MD5 `{source["md5"]}`)
- where the runs ran: {"; ".join(per_run["where"].unique())}
- params:

```yaml
{used}```

## Figures

{figures}
"""


def main() -> None:
    params = load_params(Params)
    per_run = runs_table(params.archs, params.seeds)
    source = read_json(DATA_SOURCE_FILE, "download")
    with atomic_output(REPORT_FILE) as staged:
        staged.write_text(render(params, aggregated.summary(), per_run, source))
    print(f"report: {', '.join(params.archs)} x {len(params.seeds)} seeds -> {REPORT_FILE}")


if __name__ == "__main__":
    run_stage(main)
