"""Compare experiments with a baseline: per architecture, the difference in mean test accuracy with its 95% interval.

    python -m tools.compare main hidden128 batch128          # experiment names or git revisions
    python -m tools.compare main 'h128-*' -o docs/h128.md    # a glob: a group of experiments, seeds pooled

Reads the experiments' params and metrics through DVC (`dvc exp show --json --all-commits`): the per-seed test accuracies that
the aggregate stage writes (metrics/summary.json, runs.<arch>.<seed>.*). A side may be one experiment
or revision, or a glob over experiment names whose params differ only in their seeds (for instance a
study run one seed per experiment): their seeds are pooled. Two sides that ran the same seeds are
compared seed by seed (paired); otherwise with Welch's interval. Prints a markdown table, and with
-o writes it to a file.
"""

import argparse
import fnmatch
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from imdb_rnn import published
from imdb_rnn.common import StageError, run_stage
from imdb_rnn.paths import PARAMS_FILE, SUMMARY_FILE
from imdb_rnn.stats import NO_DIFFERENCE, difference


@dataclass
class Side:
    """One side of a comparison: its label, and per architecture the test accuracy and diverged flag of each seed."""

    label: str
    params: dict  # those of its first experiment; a group's differ only in their seeds
    accuracy: dict[str, dict[int, float]]
    diverged: dict[str, dict[int, bool]]


@dataclass
class Record:
    """One row of `dvc exp show`: an experiment, a commit or the workspace."""

    name: str
    rev: str
    is_experiment: bool
    params: dict
    summary: dict | None  # None: no metrics (failed, queued or never run)
    baseline: str = ""  # the commit an experiment ran from (a commit's own revision)


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


def _members(spec: str, records: list[Record]) -> list[Record]:
    """The records that `spec` names: experiments by name, glob or revision, else a commit by branch or revision.

    The experiments of one side must have run from one commit: the same name on two commits (a grid
    rerun after a new commit, say) is ambiguous, and a group must not pool runs of two code versions.
    """
    experiments = [record for record in records if record.is_experiment]
    if any(character in spec for character in "*?["):
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
    return named if any(character in spec for character in "*?[") else named[:1]


def resolve(spec: str, records: list[Record]) -> Side:
    """The side that `spec` names: an experiment, a glob over experiment names, or a commit."""
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
    reference = {key: value for key, value in members[0].params.items() if key != "seeds"}
    for record in members[1:]:
        others = {key: value for key, value in record.params.items() if key != "seeds"}
        changed = sorted(key for key in reference.keys() | others.keys() if reference.get(key) != others.get(key))
        if changed:
            raise StageError(
                f"{spec!r} groups {members[0].name} and {record.name}, whose params differ in {', '.join(changed)} "
                "(not only in seeds): narrow the glob so that a group differs only in its seeds"
            )
    side = Side(spec, members[0].params, {}, {})
    for record in members:
        for arch, by_seed in record.summary["runs"].items():
            pooled = side.accuracy.setdefault(arch, {})
            for seed, run in by_seed.items():
                if int(seed) in pooled and pooled[int(seed)] != run["test_acc"]:
                    raise StageError(f"{spec!r}: seed {seed} of {arch} ran twice with different results")
                pooled[int(seed)] = run["test_acc"]
                side.diverged.setdefault(arch, {})[int(seed)] = bool(run["diverged"])
    return side


def _diverged(side: Side, arch: str) -> int:
    return sum(side.diverged.get(arch, {}).values())


def reported(arch: str, changed: str) -> str:
    """The report's test accuracy for this ablation, if it ran it (on its hand-written LSTM, one run)."""
    figure = published.ABLATIONS.get(changed) if arch == "lstm_manual" else None
    return "-" if figure is None else f"{figure:.4f} (1 run)"


def changed_params(base: Side, other: Side) -> str:
    """The params in which `other` differs from `base`, as key=value; seeds and archs aside (the rows show them)."""
    keys = sorted(key for key in base.params.keys() | other.params.keys() if key not in ("seeds", "archs"))
    return ", ".join(f"{key}={other.params.get(key)}" for key in keys if base.params.get(key) != other.params.get(key))


def compare(base: Side, other: Side) -> pd.DataFrame:
    """One row per architecture both sides ran: n and mean on each side, the difference, its interval, a verdict."""
    changed = changed_params(base, other) or "none but seeds"
    shared = [arch for arch in base.accuracy if arch in other.accuracy]
    if not shared:
        verdict = f"not comparable: no architecture in common with {base.label}"
        return pd.DataFrame([{"experiment": other.label, "changed params": changed, "verdict": verdict}])
    rows = []
    for arch in shared:
        a, b = base.accuracy[arch], other.accuracy[arch]
        row = {"experiment": other.label, "changed params": changed, "arch": arch, "n base": len(a), "n exp": len(b)}
        result = difference(a, b)
        interval = (
            "none (n < 2 on a side)" if result.low is None else f"[{result.low * 100:+.2f}, {result.high * 100:+.2f}]"
        )
        diverged = [
            f"{label} {count} of {n}"
            for label, count, n in (
                (base.label, _diverged(base, arch), len(a)),
                (other.label, _diverged(other, arch), len(b)),
            )
            if count
        ]
        verdict = (
            result.verdict
            if result.verdict == NO_DIFFERENCE or result.low is None
            else f"{result.verdict} than {base.label}"
        )
        rows.append(
            {
                **row,
                "mean base": f"{sum(a.values()) / len(a):.4f}",
                "mean exp": f"{sum(b.values()) / len(b):.4f}",
                "difference (points)": f"{result.mean * 100:+.2f}",
                "95% interval (points)": interval,
                "method": result.method,
                "verdict": verdict,
                "diverged runs": ", ".join(diverged) or "none",
                "the report": reported(arch, changed),
            }
        )
    return pd.DataFrame(rows)


def render(base: Side, table: pd.DataFrame) -> str:
    return (
        f"Test accuracy (best-validation epoch) of each experiment minus the baseline `{base.label}`, per architecture;"
        " paired by seed where both ran the same seeds, Welch otherwise. A difference whose 95% interval contains 0"
        " is not detectable at this n. A diverged run counts in its side's mean. *the report*: its figure for the"
        " same change, one run, last epoch.\n\n"
        + table.fillna("-").to_markdown(index=False, disable_numparse=True)
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="an experiment name, a git revision, or a glob over experiment names")
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="experiments to compare with the baseline")
    parser.add_argument("-o", "--output", type=Path, help="also write the table, as markdown, to this file")
    args = parser.parse_args()
    records = experiment_records()
    base = resolve(args.baseline, records)
    tables = [compare(base, resolve(spec, records)) for spec in args.experiments]
    text = render(base, pd.concat(tables, ignore_index=True))
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)


if __name__ == "__main__":
    run_stage(main)
