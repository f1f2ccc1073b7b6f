"""Compare experiments with a baseline: per architecture and epoch, the difference in mean test accuracy and a verdict.

For tools.compare and tools.ablations; no stage imports it. records.py finds each side and reads what it
committed. Two sides are paired on the seeds both ran, the other seeds left out and named; sides with no
seed in common are compared as independent samples. Every interval counts the seeds and the test set's
sample (imdb_rnn/analysis/stats.py); the verdicts, with Holm–Bonferroni over the rows of each epoch, are
imdb_rnn/verdicts.py's. Beside a table, `write_values` keeps every per-seed accuracy of every side and
each row's statistics (.json) and the per-review results of every run compared (.npz), from which the
whole table can be recomputed (`read_sides`).
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn import verdicts
from imdb_rnn.analysis import stats
from imdb_rnn.analysis.aggregated import Correct, pack_correct, read_groups
from imdb_rnn.analysis.formatting import points, points_interval, standard_errors
from imdb_rnn.core.common import StageError, atomic_output
from imdb_rnn.core.epochs import EPOCHS, Epoch
from imdb_rnn.experiments.records import RUN_INFO, Side, run_params


def changed_params(base: Side, other: Side) -> str:
    """The params in which `other`'s runs differ from `base`'s, as key=value (archs aside: the rows show them)."""
    a, b = run_params(base.params), run_params(other.params)
    keys = sorted(key for key in a.keys() | b.keys() if key != "archs")
    return ", ".join(f"{key}={b.get(key)}" for key in keys if a.get(key) != b.get(key))


@dataclass(frozen=True)
class Row:
    """One comparison: `other` against the baseline, for one architecture at one epoch (None: nothing shared)."""

    other: Side
    changed: str
    arch: str | None = None
    epoch: Epoch | None = None
    result: stats.Difference | None = None
    base_mean: float | None = None  # over the runs the difference uses (the paired ones, when paired)
    other_mean: float | None = None


def compare(base: Side, other: Side, epochs: Sequence[Epoch] = EPOCHS) -> list[Row]:
    """One row per architecture both sides ran and per epoch; one row saying so if they share none."""
    changed = changed_params(base, other) or "none but seeds"
    shared = [arch for arch in base.correct if arch in other.correct]
    if not shared:
        return [Row(other, changed)]
    rows = []
    for arch in shared:
        for epoch in epochs:
            a, b = base.runs(arch, epoch.key), other.runs(arch, epoch.key)
            result = stats.difference(a, b)
            used = [{seed: runs[seed] for seed in result.paired} if result.paired else runs for runs in (a, b)]
            rows.append(Row(other, changed, arch, epoch, result, *(stats.accuracy(runs).mean for runs in used)))
    return rows


def by_epoch(rows: list[Row]) -> dict[Epoch, list[int]]:
    """The indices of the compared rows of each epoch: the families that Holm corrects over."""
    return {epoch: [index for index, row in enumerate(rows) if row.epoch == epoch] for epoch in EPOCHS}


def direction_verdicts(rows: list[Row], base: Side) -> dict[int, verdicts.Verdict]:
    """Per compared row's index: is the experiment better or worse than the baseline; Holm within each epoch."""
    found = {}
    for indices in by_epoch(rows).values():
        differences = [(base.label, rows[index].other.label, rows[index].result.estimate) for index in indices]
        found |= dict(zip(indices, verdicts.judge_differences(differences), strict=True))
    return found


def _diverged(side: Side, arch: str) -> int:
    return sum(side.diverged.get(arch, {}).values())


def table(rows: list[Row], base: Side) -> pd.DataFrame:
    """The markdown table's rows: the difference, its interval and its verdicts."""
    judged = direction_verdicts(rows, base)
    records = []
    for index, row in enumerate(rows):
        if row.result is None:
            verdict = f"not comparable: no architecture in common with {base.label}"
            records.append({"experiment": row.other.label, "changed params": row.changed, "verdict": verdict})
            continue
        result = row.result
        diverged = [
            f"{side.label} {_diverged(side, row.arch)} of {len(seeds)}"
            for side, seeds in ((base, result.base_seeds), (row.other, result.other_seeds))
            if _diverged(side, row.arch)
        ]
        records.append(
            {
                "experiment": row.other.label,
                "changed params": row.changed,
                "arch": row.arch,
                "n base": len(result.base_seeds),
                "n exp": len(result.other_seeds),
                "epoch": row.epoch.label,
                "pairing": result.pairing(base.label, row.other.label),
                "mean base": f"{row.base_mean:.4f}",
                "mean exp": f"{row.other_mean:.4f}",
                "difference (points)": points(result.estimate.mean),
                "95% interval (points)": points_interval(result.estimate.interval()),
                "SE (points)": standard_errors(result.estimate),
                "verdict": judged[index].raw,
                "after Holm": judged[index].corrected,
                "diverged runs": ", ".join(diverged) or "none",
            }
        )
    return pd.DataFrame(records)


def render(base: Side, frame: pd.DataFrame, more: str = "") -> str:
    """The table under a paragraph that says how to read it (`more`: what a caller's own columns mean)."""
    return (
        f"Test accuracy of each experiment minus the baseline `{base.label}`, per architecture and epoch"
        " (best-validation or last); paired by seed on the seeds both sides ran (*pairing* names those left out; the"
        " means are over the runs compared), independent when they share none. The 95% interval counts the seeds"
        " and the test set's sample (SE: the standard error from each, in points; *clamped*: a test part estimated at"
        " or below 0 and set to 0, docs/statistics.md). A difference whose interval"
        " contains 0 is not detectable at this n. *after Holm*: Holm–Bonferroni over the rows of the same epoch."
        f" A diverged run counts in its side's mean.{more}\n\n"
        + frame.fillna("-").to_markdown(index=False, disable_numparse=True)
        + "\n"
    )


def values(base: Side, sides: list[Side], rows: list[Row]) -> dict:
    """Every side's per-seed accuracies (both epochs) and each row's statistics.

    A row's test-set part (test_var) needs the per-review results: per_review packs those of every
    run the rows compare, written beside (.npz); its seed part follows from the per-seed accuracies here.
    """

    def runs(side: Side) -> dict:
        return {
            arch: {
                str(seed): {key: float(right.mean()) for key, right in by_key.items()}
                | {"diverged": side.diverged[arch][seed]}
                | side.run_info.get(arch, {}).get(seed, {})
                for seed, by_key in sorted(by_seed.items())
            }
            for arch, by_seed in side.correct.items()
        }

    def listed(side: Side, role: str) -> dict:
        return {
            "label": side.label,
            "role": role,
            "revs": side.revs,
            "params": run_params(side.params),
            "runs": runs(side),
        }

    sides_listed = [listed(base, "baseline"), *(listed(side, "experiment") for side in sides)]
    return {
        "baseline": base.label,
        "accuracies": {epoch.key: epoch.label for epoch in EPOCHS},
        "confidence": stats.CONFIDENCE,
        "sides": sides_listed,
        "rows": [
            {
                "experiment": row.other.label,
                "arch": row.arch,
                "accuracy": row.epoch.key,
                "paired_seeds": list(row.result.paired),
                "base_seeds": list(row.result.base_seeds),
                "other_seeds": list(row.result.other_seeds),
                "mean": row.result.estimate.mean,
                "seed_parts": [list(part) for part in row.result.estimate.seed_parts],
                "test_var": row.result.estimate.test_var,
                "low": row.result.estimate.low,
                "high": row.result.estimate.high,
            }
            for row in rows
            if row.result is not None
        ],
    }


def per_review(base: Side, sides: list[Side], rows: list[Row], more: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The packed per-review results (aggregated.pack_correct) of every run the rows compare, and of the archs
    `more` (others a caller compares), by side label."""
    archs = {row.arch for row in rows if row.result is not None} | set(more)
    groups = {
        side.label: {arch: side.correct[arch] for arch in archs if arch in side.correct} for side in [base, *sides]
    }
    return pack_correct(groups)


def write_table(output: Path, text: str) -> None:
    """The markdown table, written whole."""
    with atomic_output(output) as staged:
        staged.write_text(text)


def write_values(output: Path, data: dict, packed: dict[str, np.ndarray]) -> None:
    """Beside the table `output`: its values (.json) and its per-review results (.npz), each written whole."""
    with atomic_output(output.with_suffix(".json")) as staged:
        staged.write_text(json.dumps(data, indent=1) + "\n")
    with atomic_output(output.with_suffix(".npz")) as staged, staged.open("wb") as file:
        np.savez_compressed(file, **packed)  # a file object: savez would add .npz to a path


def read_sides(output: Path, rewrite: str, params_of: Callable[[str], dict]) -> tuple[Side, list[Side]]:
    """The baseline and the other sides as write_values kept them beside `output`, for the table again.

    The values keep no params: params_of(label) gives each side's, from which the rows name what changed.
    Each side holds the runs of the architectures compared (those the .npz keeps). rewrite: the command
    that writes the files again, for messages.
    """
    values_file = output.with_suffix(".json")
    try:
        data = json.loads(values_file.read_text())
    except FileNotFoundError:
        raise StageError(f"{values_file} not found: write it with `{rewrite}`") from None
    except json.JSONDecodeError as error:
        raise StageError(f"{values_file} is not valid JSON ({error}): rewrite it with `{rewrite}`") from None
    packed = read_groups(output.with_suffix(".npz"), str(output.with_suffix(".npz")), rewrite)
    sides = []
    for entry in data["sides"]:
        kept = packed.get(entry["label"], {})
        correct: Correct = {arch: kept[arch] for arch in entry["runs"] if arch in kept}  # the table's row order
        side = Side(entry["label"], params_of(entry["label"]), list(entry["revs"]), correct)
        side.diverged = {
            arch: {int(seed): bool(run["diverged"]) for seed, run in entry["runs"][arch].items()} for arch in correct
        }
        side.run_info = {  # of every arch it ran: its validation accuracies pick one on validation
            arch: {int(seed): {key: run[key] for key in RUN_INFO if key in run} for seed, run in by_seed.items()}
            for arch, by_seed in entry["runs"].items()
        }
        sides.append(side)
    if not sides or sides[0].label != data["baseline"]:
        raise StageError(
            f"{values_file} does not list its baseline {data.get('baseline')!r} first: rewrite it with `{rewrite}`"
        )
    return sides[0], sides[1:]
