"""A confirmation: the configuration a search chose on validation, trained from several seeds and judged on test.

For tools.ablations, whose claims.yaml entry with a `goal` is one. Three claims per architecture it trains,
judged at each epoch with Holm over them: its mean test accuracy lies above the goal; it beats the study's
best architecture, the one of the highest mean best-validation accuracy (`best_on_validation`: picked on
validation, never on test), paired by seed; it beats the NBSVM baseline, paired review by review
(imdb_rnn/analysis/baseline.py). Every figure comes from the sides' per-review results, as the ablations'.
"""

import statistics

import pandas as pd

from imdb_rnn import verdicts
from imdb_rnn.analysis import stats
from imdb_rnn.analysis.baseline import Baseline, versus
from imdb_rnn.analysis.claims import BASELINE, Claim
from imdb_rnn.analysis.formatting import accuracy_interval, points, points_interval, standard_errors
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import BEST, LAST, Epoch
from imdb_rnn.experiments.records import Side

EPOCHS_SHOWN = (BEST, LAST)
PLACE = ("device", "threads", "mkl_branch", "aten_capability", "cpu", "torch")  # where a run ran (records.RUN_INFO)


def recorded(side: Side, arch: str, key: str) -> dict[int, object]:
    """Per seed of `arch`, what its runs.csv recorded under `key` (records.RUN_INFO), for the runs that have it."""
    return {seed: info[key] for seed, info in side.run_info.get(arch, {}).items() if key in info}


def best_on_validation(study: Side) -> str:
    """The study's architecture of the highest mean best-validation accuracy over its seeds."""
    means = {
        arch: statistics.fmean(found.values())
        for arch in study.run_info
        if (found := recorded(study, arch, "best_val_acc"))
    }
    if not means:
        raise StageError(
            f"{study.label} records no validation accuracy (metrics/runs.csv's best_val_acc): rerun its "
            "aggregate stage (`dvc repro aggregate`) and commit it"
        )
    return max(means, key=means.get)


def where(side: Side) -> list[str]:
    """Where its runs ran, each place once: device, threads, numerics, CPU and torch (as results.md's runs)."""
    return sorted(
        {
            f"{info['device']}, {info['threads']} thread(s), MKL {info['mkl_branch']}, ATen {info['aten_capability']}, "
            f"{info['cpu']}, torch {info['torch']}"
            for by_seed in side.run_info.values()
            for info in by_seed.values()
            if set(PLACE) <= set(info)
        }
    )


def _mean_text(side: Side, arch: str, key: str, digits: int) -> str:
    found = recorded(side, arch, key)
    return f"{statistics.fmean(found.values()):.{digits}f}" if found else "-"


def _difference_text(result: stats.Estimate) -> str:
    return f"{points(result.mean)} {points_interval(result.interval())}"


def _claims(name: str, arch: str, study_arch: str, goal: float) -> list[Claim]:
    ours, study = f"{name} {arch}", f"study {study_arch}"
    return [
        Claim(text=f"{ours} reaches the goal", kind="above", archs=[ours], threshold=goal),
        Claim(text=f"{ours} beats the study's best on validation", kind="better", archs=[study, ours]),
        Claim(text=f"{ours} beats the NBSVM baseline", kind="better", archs=[BASELINE, ours]),
    ]


def _estimates(side: Side, study: Side, arch: str, study_arch: str, baseline: Baseline, epoch: Epoch) -> list:
    runs = side.runs(arch, epoch.key)
    return [
        [stats.accuracy(runs)],
        [stats.difference(study.runs(study_arch, epoch.key), runs).estimate],
        [versus(runs, baseline.correct)],
    ]


def _accuracy_row(label: str, side: Side, arch: str) -> dict:
    row = {
        "runs": f"{label} {arch}",
        "n": len(side.correct[arch]),
        "validation": _mean_text(side, arch, "best_val_acc", 4),
        "train minutes": _mean_text(side, arch, "train_minutes", 1),
    }
    return row | {
        f"{epoch.label}: mean [95% CI]": accuracy_interval(stats.accuracy(side.runs(arch, epoch.key)))
        for epoch in EPOCHS_SHOWN
    }


def render(side: Side, study: Side, goal: float, baseline: Baseline, margin: float) -> str:
    """The confirmation's part of reports/ablations.md: accuracies at both epochs, the claims and their verdicts."""
    study_arch = best_on_validation(study)
    accuracy_rows, claim_rows = [], []
    for arch in side.correct:
        accuracy_rows += [_accuracy_row(side.label, side, arch), _accuracy_row("study", study, study_arch)]
        judged = _claims(side.label, arch, study_arch, goal)
        by_epoch = {}
        for epoch in EPOCHS_SHOWN:
            found = _estimates(side, study, arch, study_arch, baseline, epoch)
            by_epoch[epoch] = (found, verdicts.judge_claims(judged, found, margin))
        for index, claim in enumerate(judged):
            row = {"claim": claim.text, "tested": verdicts.tested(claim, margin)}
            for epoch in EPOCHS_SHOWN:
                found, judged_verdicts = by_epoch[epoch]
                estimate, verdict = found[index][0], judged_verdicts[index]
                figure = accuracy_interval(estimate) if claim.kind == "above" else _difference_text(estimate)
                row[f"{epoch.label}: estimate"] = f"{figure} ({standard_errors(estimate)})"
                row[f"{epoch.label}: verdict (after Holm)"] = f"{verdict.raw} ({verdict.corrected})"
            claim_rows.append(row)
    wilson = f"{baseline.accuracy:.4f} [{baseline.low:.4f}, {baseline.high:.4f}]"
    accuracy_rows.append(
        {"runs": "NBSVM baseline", "n": "no seed", "validation": f"{baseline.val_accuracy:.4f}", "train minutes": "-"}
        | {f"{epoch.label}: mean [95% CI]": wilson for epoch in EPOCHS_SHOWN}
    )
    seeds = len(next(iter(side.correct.values())))
    return (
        f"## {side.label}: the search's choice, confirmed on the test set\n\n"
        f"The configuration `python -m tools.search` chose on validation, trained on {seeds} seeds under the study's"
        f" protocol. The study's best architecture on validation is `{study_arch}` (the highest mean best-validation"
        " accuracy over its seeds, *validation*); test accuracy at the best-validation epoch and the last, with 95%"
        " intervals over seeds and the test set's sample (the baseline's: the test set's alone); *train minutes*: the"
        " mean over its runs, as each recorded it, with others running beside it. Its runs ran on"
        f" {'; '.join(where(side)) or 'a machine they did not record'}.\n\n"
        + pd.DataFrame(accuracy_rows).to_markdown(index=False, disable_numparse=True)
        + "\n\nIts claims at each epoch, Holm–Bonferroni over the claims of an epoch: the goal on its mean accuracy, the"
        " differences paired by seed (the study) and review by review (the baseline), in points. A difference whose"
        " interval contains 0 is not detectable at this n.\n\n"
        + pd.DataFrame(claim_rows).to_markdown(index=False, disable_numparse=True)
        + "\n"
    )
