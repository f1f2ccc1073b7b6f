"""Compare experiments with a baseline: per architecture and epoch, the difference in mean test accuracy and a verdict.

    python -m tools.compare main hidden128 batch128          # experiment names or git revisions
    python -m tools.compare main 'h128-*' -o docs/h128.md    # a glob: a group of experiments, seeds pooled
    python -m tools.compare main hidden128 --epoch last      # one protocol; both by default

Reads each side's params and per-seed results through DVC (`dvc exp show --json --all-commits`) and
its per-review results, metrics/correct.npz, from its git commit (`git show <rev>:metrics/correct.npz`;
the workspace's from disk). A side may be one experiment or revision, or a glob over experiment names
whose params differ only in their seeds (for instance a study run one seed per experiment): their
seeds are pooled. Two sides are paired on the seeds both ran, the other seeds left out and named;
sides with no seed in common are compared as independent samples. Every interval counts the seeds
and the test set's sample (imdb_rnn/stats.py). Holm–Bonferroni corrects over the rows of each epoch;
the report's ablation claims (imdb_rnn/published.py) are judged on the rows they concern, with
params.yaml's equivalence_margin. Prints a markdown table; -o writes it to a file and, beside it
(the same name, .json), every per-seed accuracy of every side and each row's statistics, from which
the table can be recomputed (tests/test_compare.py does).
"""

import argparse
import fnmatch
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from imdb_rnn import published, significance, stats
from imdb_rnn.aggregated import ACCURACIES, EPOCHS, Correct, read_correct
from imdb_rnn.common import StageError, run_stage
from imdb_rnn.params import StageParams, load_params
from imdb_rnn.paths import CORRECT_FILE, PARAMS_FILE, SUMMARY_FILE
from imdb_rnn.published import Claim

# Params that change the analysis only, not the runs: two experiments that differ in them ran the same.
ANALYSIS_PARAMS = ("seeds", "equivalence_margin")


class Params(StageParams):
    """What compare reads of params.yaml: the margin of the equivalence claims."""

    equivalence_margin: float = Field(gt=0, lt=1)


@dataclass
class Record:
    """One row of `dvc exp show`: an experiment, a commit or the workspace."""

    name: str
    rev: str
    is_experiment: bool
    params: dict
    summary: dict | None  # None: no metrics (failed, queued or never run)
    baseline: str = ""  # the commit an experiment ran from (a commit's own revision)


@dataclass
class Side:
    """One side of a comparison: its label, the commits it read, and per architecture and seed its runs."""

    label: str
    params: dict  # those of its first experiment; a group's differ only in their seeds
    revs: list[str] = field(default_factory=list)
    correct: Correct = field(default_factory=dict)  # arch -> seed -> accuracy key -> per-review results
    diverged: dict[str, dict[int, bool]] = field(default_factory=dict)

    def runs(self, arch: str, key: str) -> dict[int, np.ndarray]:
        return {seed: by_key[key] for seed, by_key in self.correct[arch].items()}


def _record(entry: dict, name: str | None, is_experiment: bool, baseline: str) -> Record:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get(PARAMS_FILE.as_posix()) or {}).get("data") or {}
    summary = ((data.get("metrics") or {}).get(SUMMARY_FILE.as_posix()) or {}).get("data")
    return Record(name or entry["rev"], entry["rev"], is_experiment, params, summary, baseline)


def experiment_records() -> list[Record]:
    """The workspace, every commit and every experiment, as `dvc exp show --json --all-commits` reports them."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", "--all-commits"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"`dvc exp show` failed: {result.stderr.strip() or result.stdout.strip()}")
    records = []
    for commit in json.loads(result.stdout):
        records.append(_record(commit, commit.get("name"), is_experiment=False, baseline=commit["rev"]))
        for experiment in commit.get("experiments") or []:
            for entry in experiment.get("revs") or []:
                name = experiment.get("name") or entry.get("name")
                records.append(_record(entry, name, is_experiment=True, baseline=commit["rev"]))
    return records


def committed_correct(record: Record) -> Correct:
    """The per-review results that `record` committed (the workspace's: the file on disk)."""
    if record.rev == "workspace":
        return read_correct(CORRECT_FILE)
    command = ["git", "show", f"{record.rev}:{CORRECT_FILE.as_posix()}"]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        raise StageError(
            f"{record.name} ({record.rev[:7]}) has no {CORRECT_FILE} in git, so its test set's share of the error "
            "cannot be measured: it predates per-review results; rerun it (`dvc exp run`) or leave it out"
        )
    return read_correct(result.stdout, origin=f"{CORRECT_FILE} of {record.name} ({record.rev[:7]})")


def _members(spec: str, records: list[Record]) -> list[Record]:
    """The records that `spec` names: experiments by name, glob or revision, else a commit by branch or revision.

    The experiments of one side must have run from one commit: the same name on two commits (a grid
    rerun after a new commit, say) is ambiguous, and a group must not pool runs of two code versions.
    """
    experiments = [record for record in records if record.is_experiment]
    is_glob = any(character in spec for character in "*?[")
    if is_glob:
        named = [record for record in experiments if fnmatch.fnmatchcase(record.name, spec)]
    else:
        named = [record for record in experiments if record.name == spec] or [
            record for record in records if len(spec) >= 4 and record.rev.startswith(spec)
        ]
        named = named or [record for record in records if not record.is_experiment and record.name == spec]
    baselines = sorted({record.baseline for record in named})
    if len(baselines) > 1:
        found = "; ".join(f"{record.name} {record.rev[:7]} (from {record.baseline[:7]})" for record in named)
        raise StageError(
            f"{spec!r} names experiments that ran from different commits ({found}): "
            "name one by its revision, or narrow the glob to the experiments of one commit"
        )
    return named if is_glob else named[:1]


def _run_params(params: dict) -> dict:
    return {key: value for key, value in params.items() if key not in ANALYSIS_PARAMS}


def resolve(spec: str, records: list[Record], load: Callable[[Record], Correct] = committed_correct) -> Side:
    """The side that `spec` names (an experiment, a glob over experiment names, or a commit), with its runs."""
    members = _members(spec, records)
    if not members:
        raise StageError(
            f"{spec!r} names no experiment, branch or commit that `dvc exp show --all-commits` lists; check the name"
        )
    without_metrics = [record.name for record in members if not record.summary or "runs" not in record.summary]
    if without_metrics:
        raise StageError(
            f"{', '.join(without_metrics)} ha{'s' if len(without_metrics) == 1 else 've'} no per-seed results in "
            f"{SUMMARY_FILE} (the experiment failed, is queued, or predates the seeds study): rerun it or leave it out"
        )
    reference = _run_params(members[0].params)
    for record in members[1:]:
        others = _run_params(record.params)
        changed = sorted(key for key in reference.keys() | others.keys() if reference.get(key) != others.get(key))
        if changed:
            raise StageError(
                f"{spec!r} groups {members[0].name} and {record.name}, whose params differ in {', '.join(changed)} "
                "(not only in seeds): narrow the glob so that a group differs only in its seeds"
            )
    side = Side(spec, members[0].params)
    for record in members:
        correct = load(record)
        side.revs.append(record.rev)
        for arch, by_seed in record.summary["runs"].items():
            for seed_key, run in by_seed.items():
                seed = int(seed_key)
                results = correct.get(arch, {}).get(seed)
                if results is None:
                    raise StageError(
                        f"{record.name}: {CORRECT_FILE} has no per-review results for {arch} seed {seed}, which "
                        f"{SUMMARY_FILE} lists: rerun its aggregate stage (`dvc exp run`)"
                    )
                pooled = side.correct.setdefault(arch, {})
                if seed in pooled and any(not np.array_equal(pooled[seed][key], results[key]) for key in ACCURACIES):
                    raise StageError(f"{spec!r}: seed {seed} of {arch} ran twice with different results")
                pooled[seed] = results
                side.diverged.setdefault(arch, {})[seed] = bool(run["diverged"])
    return side


def reported(arch: str, changed: str) -> str:
    """The report's test accuracy for this ablation, if it ran it (on its hand-written LSTM, one run)."""
    figure = published.ABLATIONS.get(changed) if arch == published.ABLATION_ARCH else None
    return "-" if figure is None else f"{figure:.4f} (1 run)"


def changed_params(base: Side, other: Side) -> str:
    """The params in which `other`'s runs differ from `base`'s, as key=value (archs aside: the rows show them)."""
    a, b = _run_params(base.params), _run_params(other.params)
    keys = sorted(key for key in a.keys() | b.keys() if key != "archs")
    return ", ".join(f"{key}={b.get(key)}" for key in keys if a.get(key) != b.get(key))


@dataclass(frozen=True)
class Row:
    """One comparison: `other` against the baseline, for one architecture at one epoch (None: nothing shared)."""

    other: Side
    changed: str
    arch: str | None = None
    key: str | None = None
    result: stats.Difference | None = None
    base_mean: float | None = None  # over the runs the difference uses (the paired ones, when paired)
    other_mean: float | None = None

    @property
    def claim(self) -> Claim | None:
        """The report's ablation claim this row judges, if any."""
        return published.ABLATION_CLAIMS.get(self.changed) if self.arch == published.ABLATION_ARCH else None


def compare(base: Side, other: Side, keys: list[str]) -> list[Row]:
    """One row per architecture both sides ran and per accuracy key; one row saying so if they share none."""
    changed = changed_params(base, other) or "none but seeds"
    shared = [arch for arch in base.correct if arch in other.correct]
    if not shared:
        return [Row(other, changed)]
    rows = []
    for arch in shared:
        for key in keys:
            a, b = base.runs(arch, key), other.runs(arch, key)
            result = stats.difference(a, b)
            used = [{seed: runs[seed] for seed in result.paired} if result.paired else runs for runs in (a, b)]
            rows.append(Row(other, changed, arch, key, result, *(stats.accuracy(runs).mean for runs in used)))
    return rows


def direction_tests(rows: list[Row], base: Side) -> list[significance.Test]:
    return [
        significance.direction_test(row.result.estimate, f"better than {base.label}", f"worse than {base.label}")
        for row in rows
    ]


def claim_test(row: Row, margin: float) -> significance.Test:
    """The test of the report's claim on this row's change: no significant effect (TOST), or worse."""
    if row.claim.kind == "same":
        return significance.equivalence_test([row.result.estimate], margin)
    return significance.direction_test(row.result.estimate, "does not hold: the opposite is detectable", "holds")


def verdicts(rows: list[Row], base: Side, margin: float) -> dict[int, dict[str, significance.Verdict]]:
    """Per row index: its direction verdict, and its claim's verdict if it has one; Holm within each epoch."""
    found: dict[int, dict[str, significance.Verdict]] = {}
    for key in ACCURACIES:
        indices = [index for index, row in enumerate(rows) if row.key == key]
        for index, verdict in zip(
            indices, significance.judge(direction_tests([rows[i] for i in indices], base)), strict=True
        ):
            found.setdefault(index, {})["direction"] = verdict
        claimed = [index for index in indices if rows[index].claim]
        judged = significance.judge_family(
            lambda at, claimed=claimed: [claim_test(rows[i], at) for i in claimed], margin
        )
        for index, verdict in zip(claimed, judged, strict=True):
            found[index]["claim"] = verdict
    return found


def _diverged(side: Side, arch: str) -> int:
    return sum(side.diverged.get(arch, {}).values())


def table(rows: list[Row], base: Side, margin: float) -> pd.DataFrame:
    """The markdown table's rows: the difference, its interval and verdicts, the report's claim and figure."""
    judged = verdicts(rows, base, margin)
    records = []
    for index, row in enumerate(rows):
        if row.result is None:
            verdict = f"not comparable: no architecture in common with {base.label}"
            records.append({"experiment": row.other.label, "changed params": row.changed, "verdict": verdict})
            continue
        result, found = row.result, judged[index]
        diverged = [
            f"{side.label} {_diverged(side, row.arch)} of {len(seeds)}"
            for side, seeds in ((base, result.base_seeds), (row.other, result.other_seeds))
            if _diverged(side, row.arch)
        ]
        claim = found.get("claim")
        records.append(
            {
                "experiment": row.other.label,
                "changed params": row.changed,
                "arch": row.arch,
                "n base": len(result.base_seeds),
                "n exp": len(result.other_seeds),
                "epoch": ACCURACIES[row.key],
                "pairing": result.pairing(base.label, row.other.label),
                "mean base": f"{row.base_mean:.4f}",
                "mean exp": f"{row.other_mean:.4f}",
                "difference (points)": significance.points(result.estimate.mean),
                "95% interval (points)": significance.points_interval(result.estimate.interval()),
                "SE (points)": significance.standard_errors(result.estimate),
                "verdict": found["direction"].raw,
                "after Holm": found["direction"].corrected,
                "the report's claim": row.claim.text if claim else "-",
                "claim: verdict": claim.raw if claim else "-",
                "claim: after Holm": claim.corrected if claim else "-",
                "claim: margin": (claim.sensitive or "-") if claim else "-",
                "diverged runs": ", ".join(diverged) or "none",
                "the report": reported(row.arch, row.changed),
            }
        )
    return pd.DataFrame(records)


def render(base: Side, frame: pd.DataFrame, margin: float) -> str:
    return (
        f"Test accuracy of each experiment minus the baseline `{base.label}`, per architecture and epoch"
        " (best-validation or last); paired by seed on the seeds both sides ran (*pairing* names those left out; the"
        " means are over the runs compared), independent when they share none. The 95% interval counts the seeds and the test set's sample (SE: the"
        " standard error from each, in points). A difference whose interval contains 0 is not detectable at this n."
        " *after Holm*: Holm–Bonferroni over the rows of the same epoch. *the report's claim*: judged on"
        f" `{published.ABLATION_ARCH}`, 'no significant effect' holding when the 90% interval lies within"
        f" {significance.margin_text(margin)} (`equivalence_margin`, TOST), Holm over the claims of the same epoch; *claim: margin* names"
        " a verdict that changes at half or double the margin. A diverged run counts in its side's mean."
        " *the report*: its figure for the same change, one run, last epoch.\n\n"
        + frame.fillna("-").to_markdown(index=False, disable_numparse=True)
        + "\n"
    )


def values(base: Side, sides: list[Side], rows: list[Row], margin: float) -> dict:
    """Every side's per-seed accuracies (both epochs) and each row's statistics: what recomputes the table.

    A row's test-set part (test_var) needs the per-review results, which the sides' `revs`
    hold in git (metrics/correct.npz); its seed part follows from the per-seed accuracies here.
    """

    def runs(side: Side) -> dict:
        return {
            arch: {
                str(seed): {key: float(right.mean()) for key, right in by_key.items()}
                | {"diverged": side.diverged[arch][seed]}
                for seed, by_key in sorted(by_seed.items())
            }
            for arch, by_seed in side.correct.items()
        }

    listed = [{"label": base.label, "role": "baseline", "revs": base.revs, "runs": runs(base)}]
    listed += [{"label": side.label, "role": "experiment", "revs": side.revs, "runs": runs(side)} for side in sides]
    return {
        "baseline": base.label,
        "accuracies": ACCURACIES,
        "confidence": stats.CONFIDENCE,
        "equivalence_margin": margin,
        "sides": listed,
        "rows": [
            {
                "experiment": row.other.label,
                "arch": row.arch,
                "accuracy": row.key,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="an experiment name, a git revision, or a glob over experiment names")
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="experiments to compare with the baseline")
    parser.add_argument(
        "--epoch",
        choices=[*EPOCHS.values(), "both"],
        default="both",
        help="the model compared: the best-validation epoch's, the last epoch's, or both (default)",
    )
    parser.add_argument("-o", "--output", type=Path, help="also write the table to this file, and its values beside it")
    args = parser.parse_args()
    margin = load_params(Params).equivalence_margin
    keys = [key for key, epoch in EPOCHS.items() if args.epoch in (epoch, "both")]
    records = experiment_records()
    base = resolve(args.baseline, records)
    sides = [resolve(spec, records) for spec in args.experiments]
    rows = [row for side in sides for row in compare(base, side, keys)]
    text = render(base, table(rows, base, margin), margin)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        data = values(base, sides, rows, margin)
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    run_stage(main)
