"""Find experiments and commits through DVC's API, and read what each committed: the sides of a comparison.

A side of a comparison is named by an experiment's name, a glob over experiment names (a group whose
params differ only in their seeds: their seeds are pooled), or a commit (a branch or a revision, the
workspace by `workspace`). `dvc.api.exp_show` lists them, from HEAD back to the first commit;
`dvc.api.read` reads, at each one's revision, its params.yaml, its every run (metrics/estimates.json), where
and how long each ran and its best validation accuracy (metrics/runs.csv), and its per-review results
(metrics/correct.npz).
"""

import fnmatch
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import dvc.api
import numpy as np
import pandas as pd
import yaml
from dvc.exceptions import DvcException

from imdb_rnn.analysis.aggregated import RUNS, Correct, read_correct
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import CORRECT_FILE, ESTIMATES_FILE, PARAMS_FILE, RUNS_FILE

# Params that change the analysis only, not the runs: two experiments that differ in them ran the same.
ANALYSIS_PARAMS = ("seeds", "equivalence_margin")
WORKSPACE = "workspace"


@dataclass(frozen=True)
class Record:
    """One row of `dvc exp show`: an experiment, a commit or the workspace."""

    name: str
    rev: str
    is_experiment: bool
    baseline: str = ""  # the commit an experiment ran from (a commit's own revision)


# What runs.csv says of each run beyond its test accuracies, kept with it: its best validation accuracy (what picks
# an architecture on validation), its training minutes and where it ran.
RUN_INFO = ("best_val_acc", "train_minutes", "torch", "threads", "mkl_branch", "aten_capability", "device", "cpu")
# Per architecture and seed: those of RUN_INFO that its runs.csv has.
RunInfo = dict[str, dict[int, dict]]


@dataclass(frozen=True)
class Committed:
    """What a record committed: its params, its runs (per arch and seed: accuracies, diverged), per-review results."""

    params: dict
    runs: dict[str, dict[str, dict]]
    correct: Correct
    run_info: RunInfo = field(default_factory=dict)


@dataclass
class Side:
    """One side of a comparison: its label, the commits it read, and per architecture and seed its runs."""

    label: str
    params: dict  # those of its first experiment; a group's differ only in their seeds
    revs: list[str] = field(default_factory=list)
    correct: Correct = field(default_factory=dict)  # arch -> seed -> epoch key -> per-review results
    diverged: dict[str, dict[int, bool]] = field(default_factory=dict)
    run_info: RunInfo = field(default_factory=dict)  # of the runs whose runs.csv records it

    def runs(self, arch: str, key: str) -> dict[int, np.ndarray]:
        return {seed: by_key[key] for seed, by_key in self.correct[arch].items()}

    def add_run(self, arch: str, seed: int, results: dict[str, np.ndarray], diverged: bool, info: dict | None) -> None:
        """Pool one run: its per-review results by epoch key, whether it diverged, what runs.csv says of it."""
        self.correct.setdefault(arch, {})[seed] = results
        self.diverged.setdefault(arch, {})[seed] = diverged
        if info is not None:
            self.run_info.setdefault(arch, {})[seed] = info


# Experiments `dvc exp show` lists that have committed nothing of their own yet, or never will: their files
# would be read at their baseline, the study's runs taken for theirs.
UNFINISHED = ("Queued", "Running", "Failed")


def experiment_records() -> list[Record]:
    """The workspace, every commit from HEAD back, and every finished experiment of each, as `dvc exp show` lists them."""
    try:
        rows = dvc.api.exp_show(num=-1)
    except DvcException as error:
        raise StageError(f"`dvc exp show` failed: {error}") from None
    records, baseline = [], ""
    for row in rows:
        if row["typ"] == "baseline":
            baseline = row["rev"]
            records.append(Record(row["rev"], row["rev"], is_experiment=False, baseline=baseline))
        elif row.get("State") not in UNFINISHED:
            records.append(Record(row["Experiment"] or row["rev"], row["rev"], is_experiment=True, baseline=baseline))
    return records


def _read(record: Record, path, mode: str = "r") -> str | bytes:
    rev = None if record.rev == WORKSPACE else record.rev
    try:
        return dvc.api.read(path.as_posix(), rev=rev, mode=mode)
    except (DvcException, FileNotFoundError) as error:
        raise StageError(
            f"{record.name} ({record.rev}) has no readable {path} ({type(error).__name__}): it failed, is queued, "
            "or predates this layout; rerun it (`dvc exp run`) or leave it out"
        ) from None


def committed(record: Record) -> Committed:
    """What `record` committed, read at its revision (the workspace's from disk)."""
    params = yaml.safe_load(_read(record, PARAMS_FILE))
    runs = json.loads(_read(record, ESTIMATES_FILE))[RUNS]
    correct = read_correct(_read(record, CORRECT_FILE, "rb"), origin=f"{CORRECT_FILE} of {record.name} ({record.rev})")
    return Committed(params, runs, correct, _run_info(record))


def _run_info(record: Record) -> RunInfo:
    """RUN_INFO of each run `record` committed, from its runs.csv; empty where it has none."""
    try:
        table = pd.read_csv(io.StringIO(_read(record, RUNS_FILE)))
    except StageError:
        return {}
    columns = [column for column in RUN_INFO if column in table]
    found: RunInfo = {}
    for row in table.to_dict("records"):
        found.setdefault(row["arch"], {})[int(row["seed"])] = {column: row[column] for column in columns}
    return found


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


def run_params(params: dict) -> dict:
    """The params that shape the runs (ANALYSIS_PARAMS aside)."""
    return {key: value for key, value in params.items() if key not in ANALYSIS_PARAMS}


def resolve(spec: str, records: list[Record], load: Callable[[Record], Committed] = committed) -> Side:
    """The side that `spec` names (an experiment, a glob over experiment names, or a commit), with its runs."""
    members = _members(spec, records)
    if not members:
        raise StageError(f"{spec!r} names no experiment, branch or commit that `dvc exp show` lists; check the name")
    return _side(spec, members, load)


def resolve_named(
    label: str, names: list[str], records: list[Record], load: Callable[[Record], Committed] = committed
) -> Side | None:
    """The side `label` pooling the experiments `names` that `dvc exp show` lists (one per seed, say); None if none.

    Unlike a glob's, these may have run from different commits (seeds that landed one by one), as long as their
    params are the same; the side's revs name each.
    """
    members = [record for record in records if record.is_experiment and record.name in names]
    return _side(label, members, load) if members else None


def _side(spec: str, members: list[Record], load: Callable[[Record], Committed]) -> Side:
    loaded = [(record, load(record)) for record in members]
    reference = run_params(loaded[0][1].params)
    for record, found in loaded[1:]:
        others = run_params(found.params)
        changed = sorted(key for key in reference.keys() | others.keys() if reference.get(key) != others.get(key))
        if changed:
            raise StageError(
                f"{spec!r} groups {members[0].name} and {record.name}, whose params differ in {', '.join(changed)} "
                "(not only in seeds): narrow the glob so that a group differs only in its seeds"
            )
    side = Side(spec, loaded[0][1].params)
    for record, found in loaded:
        side.revs.append(record.rev)
        for arch, by_seed in found.runs.items():
            for seed_key, run in by_seed.items():
                seed = int(seed_key)
                results = found.correct.get(arch, {}).get(seed)
                if results is None:
                    raise StageError(
                        f"{record.name}: {CORRECT_FILE} has no per-review results for {arch} seed {seed}, which "
                        f"{ESTIMATES_FILE} lists: rerun its aggregate stage (`dvc exp run`)"
                    )
                pooled = side.correct.get(arch, {})
                if seed in pooled and any(not np.array_equal(pooled[seed][e.key], results[e.key]) for e in EPOCHS):
                    raise StageError(f"{spec!r}: seed {seed} of {arch} ran twice with different results")
                side.add_run(arch, seed, results, bool(run["diverged"]), found.run_info.get(arch, {}).get(seed))
    return side
