"""Stage `report`: reports/results.md, this run's results on one page, with a verdict on every claim of the report.

    python -m stages.report

Per architecture: the number of seeds, the mean test accuracy with its 95% interval (best-validation
epoch and last epoch), the report's figure beside ours, and how many runs diverged (their accuracies
count in the means). Then the paired differences between architectures and the verdict on each claim
of the report (imdb_rnn/published.py), both at each epoch, raw and after Holm–Bonferroni; every run,
the setup (data, device, params) and the figures. The estimates are those the aggregate stage wrote;
the tests and verdicts are imdb_rnn/stats.py's.
"""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml
from pydantic import Field

from imdb_rnn import aggregated, published, significance, stats
from imdb_rnn.common import atomic_output, read_json, run_stage
from imdb_rnn.params import StageParams, load_params
from imdb_rnn.paths import DATA_SOURCE_FILE, PLOTS_DIR, REPORT_FILE
from imdb_rnn.published import Claim


class Params(StageParams):
    """The params that shape the results, shown in the report's setup section, and the equivalence margin."""

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
    equivalence_margin: float = Field(gt=0, lt=1)


FIGURES = {"Accuracy per epoch": "accuracy.png", "Loss per epoch": "loss.png", "Test accuracy": "test_accuracy.png"}
# Both protocols everywhere, the report's own (the last epoch) first.
PROTOCOLS = {key: aggregated.ACCURACIES[key] for key in ("final_test_acc", "test_acc")}
EQUIVALENCE = 1 - 2 * stats.ALPHA  # the interval that TOST's "holds" reads


def accuracy_interval(result: stats.Estimate) -> str:
    """`mean [low, high]` of an accuracy, or `mean (no interval ...)`."""
    bounds = result.interval()
    if bounds is None:
        return f"{result.mean:.4f} (no interval: {'one seed' if result.seed_var is None else 'no variance'})"
    return f"{result.mean:.4f} [{bounds[0]:.4f}, {bounds[1]:.4f}]"


def difference_text(base: str, other: str, result: stats.Estimate, equivalence: bool = False) -> str:
    """`other − base = +x [95%] (90% [..] for an equivalence; SE seed s, test t)`, in points."""
    text = f"{other} − {base} = {significance.points(result.mean)} {significance.points_interval(result.interval())}"
    if equivalence and result.interval() is not None:
        text += f", {EQUIVALENCE:.0%} {significance.points_interval(result.interval(EQUIVALENCE))}"
    return f"{text} ({significance.standard_errors(result)})"


def architecture_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for arch in archs:
        reported = published.TEST_ACCURACY.get(arch)
        row = {"arch": arch, "seeds": summary[arch]["n"]}
        for key, label in aggregated.ACCURACIES.items():
            result = aggregated.estimate(summary, arch, key)
            row[f"{label}: mean [95% CI]"] = accuracy_interval(result)
            row[f"{label}: SE (points)"] = significance.standard_errors(result)
        row["the report (last epoch, 1 run)"] = "-" if reported is None else f"{reported:.4f}"
        row["diverged"] = f"{summary[arch]['diverged']} of {summary[arch]['n']}"
        rows.append(row)
    return pd.DataFrame(rows)


def difference_table(summary: dict, archs: list[str], key: str) -> pd.DataFrame:
    """Every pair's difference at accuracy `key`, its direction verdict raw and after Holm over the pairs."""
    pairs = [(base, other) for index, base in enumerate(archs) for other in archs[index + 1 :]]
    results = [aggregated.difference(summary, base, other, key) for base, other in pairs]
    tests = [
        significance.direction_test(result, f"{other} better", f"{other} worse")
        for (_, other), result in zip(pairs, results, strict=True)
    ]
    verdicts = significance.judge(tests)
    rows = [
        {
            "difference": f"{other} − {base}",
            "n paired": result.n,
            "mean (points)": significance.points(result.mean),
            "95% interval (points)": significance.points_interval(result.interval()),
            "SE (points)": significance.standard_errors(result),
            "verdict": verdict.raw,
            f"after Holm ({verdict.family} tests)": verdict.corrected,
        }
        for (base, other), result, verdict in zip(pairs, results, verdicts, strict=True)
    ]
    return pd.DataFrame(rows)


def judged_claims(archs: Sequence[str]) -> list[Claim]:
    """The report's architecture claims about these archs."""
    return [claim for claim in published.ARCHITECTURE_CLAIMS if set(claim.archs) <= set(archs)]


def claim_test(claim: Claim, summary: dict, key: str, margin: float) -> significance.Test:
    """The test of one claim at accuracy `key`, with verdicts holds / does not hold / not detectable at this n."""
    if claim.kind in ("above", "below"):
        result = aggregated.estimate(summary, claim.archs[0], key)
        return significance.threshold_test(result, published.THRESHOLD, claim.kind == "above")
    results = [aggregated.difference(summary, base, other, key) for base, other in claim.pairs()]
    if claim.kind == "same":
        return significance.equivalence_test(results, margin)
    return significance.direction_test(results[0], "holds", "does not hold: the opposite is detectable")


def claim_evidence(claim: Claim, summary: dict, key: str) -> tuple[int, str]:
    """n and the estimate(s) a claim is judged on, in words."""
    if claim.kind in ("above", "below"):
        result = aggregated.estimate(summary, claim.archs[0], key)
        text = f"{claim.archs[0]} {accuracy_interval(result)} ({significance.standard_errors(result)})"
        return result.n, f"{text} against {published.THRESHOLD}"
    results = {(base, other): aggregated.difference(summary, base, other, key) for base, other in claim.pairs()}
    text = "; ".join(
        difference_text(base, other, result, equivalence=claim.kind == "same")
        for (base, other), result in results.items()
    )
    return min(result.n for result in results.values()), text


def claim_verdicts(claims: list[Claim], summary: dict, key: str, margin: float) -> list[significance.Verdict]:
    """Each claim's verdict at accuracy `key`, raw and after Holm over the claims, checked at other margins."""
    return significance.judge_family(lambda at: [claim_test(claim, summary, key, at) for claim in claims], margin)


def claims_table(claims: list[Claim], summary: dict, key: str, verdicts: list[significance.Verdict]) -> pd.DataFrame:
    rows = []
    for claim, verdict in zip(claims, verdicts, strict=True):
        n, evidence = claim_evidence(claim, summary, key)
        rows.append(
            {
                "the report's claim": claim.text,
                "n": n,
                "estimate, 95% interval in points (SE by source)": evidence,
                "verdict": verdict.raw,
                f"after Holm ({verdict.family} claims)": verdict.corrected,
                "margin": verdict.sensitive or "-",
            }
        )
    return pd.DataFrame(rows)


def dependencies(claims: list[Claim], verdicts: dict[str, list[significance.Verdict]]) -> list[str]:
    """The claims whose verdict changes with the protocol, the correction or the margin, in words."""
    notes = []
    for index, claim in enumerate(claims):
        by_label = {PROTOCOLS[key]: verdicts[key][index] for key in PROTOCOLS}
        changes = []
        if len({(verdict.raw, verdict.corrected) for verdict in by_label.values()}) > 1:
            changes.append(
                "the protocol: "
                + "; ".join(
                    f"{label}: {verdict.raw} (after Holm: {verdict.corrected})" for label, verdict in by_label.items()
                )
            )
        changes += [
            f"the correction ({label}): {verdict.raw}, after Holm {verdict.corrected}"
            for label, verdict in by_label.items()
            if verdict.flips
        ]
        changes += [
            f"the margin ({label}): {verdict.sensitive}" for label, verdict in by_label.items() if verdict.sensitive
        ]
        if changes:
            notes.append(f"- *{claim.text}* depends on " + "; ".join(changes) + ".")
    return notes


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


def by_protocol(title: str, tables: dict[str, pd.DataFrame]) -> str:
    """One table per protocol under a heading that names its epoch."""
    return "\n\n".join(f"### {title}, {PROTOCOLS[key]}\n\n{markdown(table)}" for key, table in tables.items())


def render(params: Params, summary: dict, per_run: pd.DataFrame, source: dict) -> str:
    """The report's markdown."""
    used = yaml.safe_dump(params.model_dump(), sort_keys=False, default_flow_style=None)
    figures = "\n\n".join(f"![{title}]({Path('..', PLOTS_DIR, name).as_posix()})" for title, name in FIGURES.items())
    margin = params.equivalence_margin
    differences = "One architecture: nothing to compare."
    if len(params.archs) > 1:
        tables = {key: difference_table(summary, params.archs, key) for key in PROTOCOLS}
        differences = by_protocol("Differences", tables)
    claims = judged_claims(params.archs)
    claim_tables = notes = "None of the report's architecture claims concerns these archs."
    if claims:
        verdicts = {key: claim_verdicts(claims, summary, key, margin) for key in PROTOCOLS}
        claim_tables = by_protocol(
            "Claims", {key: claims_table(claims, summary, key, verdicts[key]) for key in PROTOCOLS}
        )
        notes = "\n".join(dependencies(claims, verdicts)) or (
            "None: every verdict is the same at both epochs, raw and corrected, and at half and double the margin."
        )
    return f"""# Results

{len(params.seeds)} training seeds per architecture ({", ".join(map(str, params.seeds))}), {params.epochs} epochs
each. *best-validation epoch*: the model of the epoch with the best validation accuracy; *last epoch*:
the model after epoch {params.epochs}, as the report quotes it (one run per architecture). Every accuracy is
the mean over the seeds with its 95% interval, which counts both sources of error: the seeds, and the
sample of test reviews that every run shares (SE: the standard error from each, in points; none with
one seed; the method and its coverage: docs/statistics.md). A diverged run counts in the mean.

## Test accuracy per architecture

{markdown(architecture_table(summary, params.archs))}

## Differences between architectures

One architecture minus another, paired by seed, at each epoch. A difference whose interval contains 0
is not detectable at this n; runs with no spread over seeds give no verdict. Holm–Bonferroni corrects
over the pairs of each epoch.

{differences}

## The report's claims

*better*: the 95% interval of the difference lies above 0. *differ little*, *does as well*: every
difference lies within {significance.margin_text(margin)} (`equivalence_margin` in params.yaml): it holds when
each one's {EQUIVALENCE:.0%} interval lies inside (two one-sided tests, TOST, at 5%), and does not hold
when a 95% interval lies beyond. *passes* / *below* {published.THRESHOLD}: the 95% interval of the
accuracy lies above or below it. Otherwise: not detectable at this n. Holm–Bonferroni corrects over the
claims of each epoch; *margin* names the verdicts that change at half or double the margin.

{claim_tables}

### What the verdicts depend on

{notes}

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
