"""Stage `report`: reports/results.md, this run's results on one page, with a verdict on every claim of the report.

    python -m stages.report

Per architecture: the number of seeds, the mean test accuracy with its 95% interval (best-validation
epoch and last epoch), the report's figure beside ours, and how many runs diverged (their accuracies
count in the means). Then the NBSVM baseline (stage baseline), each architecture's paired difference
from it and the verdict on our claim that each beats it; the paired differences between architectures
and the verdict on each claim of the report (claims.yaml, imdb_rnn/analysis/claims.py), all at each
epoch, raw and after Holm–Bonferroni, and what each verdict tests; every run, the setup (data, device,
params) and the figures. The estimates are those the aggregate stage wrote, but for the differences
from the baseline, which pair the aggregate's per-review results (metrics/correct.npz) with the
baseline's (imdb_rnn/analysis/baseline.py); the verdicts and their wording are imdb_rnn/verdicts.py's;
this module renders them into stages/results.md.jinja.
"""

from pathlib import Path

import jinja2
import pandas as pd
import yaml
from pydantic import Field

from imdb_rnn import verdicts
from imdb_rnn.analysis import aggregated, claims, stats
from imdb_rnn.analysis.baseline import Baseline, read_baseline, versus
from imdb_rnn.analysis.claims import Claim
from imdb_rnn.analysis.formatting import accuracy_interval, margin_text, points, points_interval, standard_errors
from imdb_rnn.core.common import StageError, atomic_output, read_json, run_stage
from imdb_rnn.core.epochs import BEST, LAST, Epoch
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import CORRECT_FILE, DATA_SOURCE_FILE, PLOTS_DIR, REPORT_FILE

TEMPLATE = Path(__file__).with_name("results.md.jinja")


class Params(StageParams):
    """The params that shape the results, shown in the report's setup section, and the equivalence margin."""

    archs: list[str]
    seeds: list[int]
    epochs: int
    vocab_size: int
    seq_len: int | None
    truncate: str
    embed_dim: int
    hidden: int
    layers: int
    bidirectional: bool
    pooling: str
    embedding_dropout: float
    layer_dropout: float
    head_dropout: float
    loss: str
    batch_size: int
    trim_batches: bool
    lr: float
    lr_schedule: str
    max_grad_norm: float | None
    weight_decay: float
    threads: int
    equivalence_margin: float = Field(gt=0, lt=1)


FIGURES = {"Accuracy per epoch": "accuracy.png", "Loss per epoch": "loss.png", "Test accuracy": "test_accuracy.png"}
PROTOCOLS = (LAST, BEST)  # both epochs everywhere, the report's own (the last epoch) first
EQUIVALENCE = 1 - 2 * stats.ALPHA  # the interval that TOST's "holds" reads


def difference_text(base: str, other: str, result: stats.Estimate, equivalence: bool = False) -> str:
    """`other − base = +x [95%] (90% [..] for an equivalence; SE seed s, test t)`, in points."""
    text = f"{other} − {base} = {points(result.mean)} {points_interval(result.interval())}"
    if equivalence and result.interval() is not None:
        text += f", {EQUIVALENCE:.0%} {points_interval(result.interval(EQUIVALENCE))}"
    return f"{text} ({standard_errors(result)})"


def architecture_table(estimates: dict, archs: list[str], reported_accuracy: dict[str, float]) -> pd.DataFrame:
    """Per architecture: n, both epochs' mean, interval and standard errors, the report's figure, diverged runs."""
    rows = []
    for arch in archs:
        reported = reported_accuracy.get(arch)
        row = {"arch": arch, "seeds": estimates[arch]["n"]}
        for epoch in (BEST, LAST):
            result = aggregated.estimate(estimates, arch, epoch.key)
            row[f"{epoch.label}: mean [95% CI]"] = accuracy_interval(result)
            row[f"{epoch.label}: SE (points)"] = standard_errors(result)
        row["the report (last epoch, 1 run)"] = "-" if reported is None else f"{reported:.4f}"
        row["diverged"] = f"{estimates[arch]['diverged']} of {estimates[arch]['n']}"
        rows.append(row)
    return pd.DataFrame(rows)


def difference_table(estimates: dict, archs: list[str], epoch: Epoch) -> pd.DataFrame:
    """Every pair's difference at `epoch`, its direction verdict raw and after Holm over the pairs."""
    pairs = claims.pairs(archs)
    results = [aggregated.difference(estimates, base, other, epoch.key) for base, other in pairs]
    judged = verdicts.judge_differences(
        [(base, other, result) for (base, other), result in zip(pairs, results, strict=True)]
    )
    rows = [
        {
            "difference": f"{other} − {base}",
            "n paired": result.n,
            "mean (points)": points(result.mean),
            "95% interval (points)": points_interval(result.interval()),
            "SE (points)": standard_errors(result),
            "verdict": verdict.raw,
            f"after Holm ({verdict.family} tests)": verdict.corrected,
        }
        for (base, other), result, verdict in zip(pairs, results, judged, strict=True)
    ]
    return pd.DataFrame(rows)


def claim_estimates(claim: Claim, estimates: dict, epoch: Epoch) -> list[stats.Estimate]:
    """What a claim is judged on (claims.judged_on), from estimates.json at `epoch`."""
    return claims.judged_on(
        claim,
        lambda base, other: aggregated.difference(estimates, base, other, epoch.key),
        lambda arch: aggregated.estimate(estimates, arch, epoch.key),
    )


def claim_evidence(claim: Claim, found: list[stats.Estimate]) -> tuple[int, str]:
    """n and the estimate(s) a claim is judged on, in words."""
    if claim.kind in claims.THRESHOLD_KINDS:
        text = f"{claim.archs[0]} {accuracy_interval(found[0])} ({standard_errors(found[0])})"
        return found[0].n, f"{text} against {claim.threshold}"
    text = "; ".join(
        difference_text(base, other, result, equivalence=claim.kind == "same")
        for (base, other), result in zip(claim.pairs(), found, strict=True)
    )
    return min(result.n for result in found), text


def claims_table(
    judged: list[Claim], found: list[list[stats.Estimate]], margin: float, judged_verdicts: list
) -> pd.DataFrame:
    rows = []
    for claim, estimates, verdict in zip(judged, found, judged_verdicts, strict=True):
        n, evidence = claim_evidence(claim, estimates)
        rows.append(
            {
                "the report's claim": claim.text,
                "n": n,
                "estimate, 95% interval in points (SE by source)": evidence,
                "tested": verdicts.tested(claim, margin),
                "verdict": verdict.raw,
                f"after Holm ({verdict.family} claims)": verdict.corrected,
                "margin": verdict.margin_effect or "-",
            }
        )
    return pd.DataFrame(rows)


def dependencies(judged: list[Claim], by_epoch: dict[Epoch, list[verdicts.Verdict]]) -> list[str]:
    """The claims whose verdict changes with the protocol, the correction or the margin, in words."""
    notes = []
    for index, claim in enumerate(judged):
        changes = verdicts.dependence({epoch.label: by_epoch[epoch][index] for epoch in PROTOCOLS})
        if changes:
            notes.append(f"- *{claim.text}* depends on " + "; ".join(changes) + ".")
    return notes


def against_baseline(
    judged: list[Claim], correct: aggregated.Correct, baseline: Baseline, seeds: list[int], epoch: Epoch
) -> list[list[stats.Estimate]]:
    """What each claim that an arch beats the baseline is judged on: arch − baseline at `epoch`, on `seeds`."""

    def difference(_: str, arch: str) -> stats.Estimate:
        runs = {seed: by_key[epoch.key] for seed, by_key in correct.get(arch, {}).items() if seed in seeds}
        if not runs:
            raise StageError(f"{CORRECT_FILE} holds no run of {arch} on seeds {seeds}: rerun `dvc repro aggregate`")
        return versus(runs, baseline.correct)

    return [claims.judged_on(claim, difference) for claim in judged]


def baseline_table(judged: list[Claim], found: dict[Epoch, list[list[stats.Estimate]]]) -> pd.DataFrame:
    """Per claim, arch − baseline at each epoch: the seeds, the mean with its 95% interval, the standard errors."""
    rows = []
    for index, claim in enumerate(judged):
        base, other = claim.archs
        row = {"difference": f"{other} − {base}", "seeds": found[LAST][index][0].n}
        for epoch in PROTOCOLS:
            result = found[epoch][index][0]
            row[f"{epoch.label}: mean [95% CI] (points)"] = (
                f"{points(result.mean)} {points_interval(result.interval())}"
            )
            row[f"{epoch.label}: SE (points)"] = standard_errors(result)
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_verdicts(judged: list[Claim], by_epoch: dict[Epoch, list[verdicts.Verdict]], margin: float) -> list[str]:
    """One line per claim: what it tests and its verdict at each epoch (once if both agree), raw and after Holm."""
    lines = []
    for index, claim in enumerate(judged):
        found = {epoch: by_epoch[epoch][index] for epoch in PROTOCOLS}
        words = {epoch: f"{verdict.raw} (after Holm: {verdict.corrected})" for epoch, verdict in found.items()}
        if len(set(words.values())) == 1:
            judged_at = f"{words[LAST]}, at both epochs"
        else:
            judged_at = "; ".join(f"{epoch.label}: {text}" for epoch, text in words.items())
        lines.append(f"- *{claim.text}* (tested: {verdicts.tested(claim, margin)}): {judged_at}.")
    return lines


def runs_table(archs: list[str], seeds: list[int]) -> pd.DataFrame:
    """Every run of these archs and seeds, from the aggregate's per-run table."""
    table = aggregated.runs()
    table = table[table["arch"].isin(archs) & table["seed"].isin(seeds)]
    return pd.DataFrame(
        {
            "arch": table["arch"],
            "seed": table["seed"],
            "test acc": table[BEST.key].map("{:.4f}".format),
            "last-epoch test acc": table[LAST.key].map("{:.4f}".format),
            "best epoch": table["best_epoch"],
            "train minutes": table["train_minutes"].map("{:.2f}".format),
            "diverged": table["diverged"].map({True: "yes", False: "no"}),
            "where": table["device"]
            + ", "
            + table["threads"].astype(str)
            + " thread(s), MKL "
            + table["mkl_branch"].astype("string").fillna("-")
            + ", ATen "
            + table["aten_capability"].astype("string").fillna("-")
            + ", "
            + table["cpu"],
        }
    )


def markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, disable_numparse=True)


def by_protocol(title: str, tables: dict[Epoch, pd.DataFrame]) -> str:
    """One table per protocol under a heading that names its epoch."""
    return "\n\n".join(f"### {title}, {epoch.label}\n\n{markdown(table)}" for epoch, table in tables.items())


def baseline_part(
    params: Params, claimed: claims.AgainstBaseline | None, baseline: Baseline, correct: aggregated.Correct
) -> dict:
    """The template's `baseline`: the baseline's figures, and per claimed arch its difference table and verdicts."""
    judged = [] if claimed is None else claimed.claims_about(params.archs)
    part = {
        "accuracy": f"{baseline.accuracy:.4f} [{baseline.low:.4f}, {baseline.high:.4f}]",
        "n_train": f"{baseline.n_train:,}",
        "C": f"{baseline.chosen_c:g}",
        "val_accuracy": f"{baseline.val_accuracy:.4f}",
        "published": None if claimed is None else f"{claimed.published:.4f}",
        "claims": len(judged),
    }
    if judged:
        found = {epoch: against_baseline(judged, correct, baseline, params.seeds, epoch) for epoch in PROTOCOLS}
        by_epoch = {
            epoch: verdicts.judge_claims(judged, found[epoch], params.equivalence_margin) for epoch in PROTOCOLS
        }
        part["table"] = markdown(baseline_table(judged, found))
        part["verdicts"] = "\n".join(baseline_verdicts(judged, by_epoch, params.equivalence_margin))
    return part


def render(
    params: Params,
    estimates: dict,
    per_run: pd.DataFrame,
    source: dict,
    original: claims.Claims,
    baseline: Baseline,
    correct: aggregated.Correct,
) -> str:
    """The report's markdown: the template filled with the tables and verdicts."""
    margin = params.equivalence_margin
    differences = claim_tables = notes = None
    if len(params.archs) > 1:
        differences = by_protocol(
            "Differences", {epoch: difference_table(estimates, params.archs, epoch) for epoch in PROTOCOLS}
        )
    judged = original.report.claims_about(params.archs)
    if judged:
        found = {epoch: [claim_estimates(claim, estimates, epoch) for claim in judged] for epoch in PROTOCOLS}
        by_epoch = {epoch: verdicts.judge_claims(judged, found[epoch], margin) for epoch in PROTOCOLS}
        claim_tables = by_protocol(
            "Claims", {epoch: claims_table(judged, found[epoch], margin, by_epoch[epoch]) for epoch in PROTOCOLS}
        )
        notes = "\n".join(dependencies(judged, by_epoch))
    thresholds = sorted({claim.threshold for claim in judged if claim.threshold is not None})
    template = jinja2.Template(TEMPLATE.read_text(), keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return template.render(
        params=params,
        seeds=", ".join(map(str, params.seeds)),
        architectures=markdown(architecture_table(estimates, params.archs, original.report.test_accuracy)),
        baseline=baseline_part(params, original.baseline, baseline, correct),
        differences=differences,
        margin=margin_text(margin),
        equivalence=f"{EQUIVALENCE:.0%}",
        thresholds=" or ".join(map(str, thresholds)),
        claims=claim_tables,
        notes=notes,
        runs=markdown(per_run),
        source=source,
        where="; ".join(per_run["where"].unique()),
        used=yaml.safe_dump(params.model_dump(), sort_keys=False, default_flow_style=None),
        figures={title: Path("..", PLOTS_DIR, name).as_posix() for title, name in FIGURES.items()},
    )


def main() -> None:
    params = load_params(Params)
    original = claims.load_claims()
    per_run = runs_table(params.archs, params.seeds)
    source = read_json(DATA_SOURCE_FILE, "download")
    baseline, correct = read_baseline(), aggregated.read_correct()
    with atomic_output(REPORT_FILE) as staged:
        staged.write_text(render(params, aggregated.estimates(), per_run, source, original, baseline, correct))
    print(f"report: {', '.join(params.archs)} x {len(params.seeds)} seeds -> {REPORT_FILE}")


if __name__ == "__main__":
    run_stage(main)
