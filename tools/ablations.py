"""The report's ablations (claims.yaml, `ablations`): rerun them as DVC experiments, and report them against the study.

    python -m tools.ablations run [-j 2]    # run every ablation, then write reports/ablations.{json,npz,md}
    python -m tools.ablations report        # reports/ablations.md again, from the committed .json and .npz

An ablation is one entry of claims.yaml's `ablations`: its params (the `-S` changes), its seeds, and the
report's claim and figure for it; nothing else names it. `run` runs one DVC experiment per entry (`dvc
exp run --queue -n <name> -S ...`: its params, the ablations' archs and its seeds) on DVC's queue, -j at
once (each training on `threads` threads, params.yaml), with the progress, the interruption and the
resumption of imdb_rnn/experiments/exp_queue.py: an experiment that already exists is replaced, and
every run that DVC's run cache holds (an interrupted `run`'s finished ones) is restored, not trained
again. It then compares each experiment with the committed study (imdb_rnn/experiments/comparison.py)
and keeps every per-seed accuracy (.json) and per-review result (.npz) it compared. `report` renders
the table from those two files alone, no experiment needed, and judges each claim (imdb_rnn/verdicts.py)
at params.yaml's `equivalence_margin`.
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from pydantic import Field
from ruamel.yaml import YAML

from imdb_rnn import verdicts
from imdb_rnn.analysis import claims
from imdb_rnn.analysis.claims import Ablations
from imdb_rnn.analysis.formatting import margin_text
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import PARAMS_FILE
from imdb_rnn.experiments import comparison, exp_queue
from imdb_rnn.experiments.processes import interruptible
from imdb_rnn.experiments.records import Committed, Record, committed, experiment_records, resolve

REPORT = Path("reports/ablations.md")
BASELINE = "main"  # the committed study every experiment is compared with
REWRITE = "python -m tools.ablations run"
CLAIM_COLUMNS = ("the report's claim", "claim: tested", "claim: verdict", "claim: after Holm", "claim: margin")


class Margin(StageParams):
    """What the report reads of params.yaml: the margin of the equivalence claims."""

    equivalence_margin: float = Field(gt=0, lt=1)


def override(value: object) -> str:
    """A value in DVC's -S (Hydra override) syntax: lists as [a,b], booleans as true/false."""
    if isinstance(value, list):
        return f"[{','.join(override(item) for item in value)}]"
    return json.dumps(value) if isinstance(value, bool) else str(value)


def set_options(ablations: Ablations, name: str) -> list[str]:
    """The -S options of experiment `name`: the ablations' archs, its seeds and its params."""
    return [option for key, value in ablations.changes(name).items() for option in ("-S", f"{key}={override(value)}")]


def run(ablations: Ablations, jobs: int) -> None:
    """Every experiment of the ablations on DVC's queue, `jobs` at once (imdb_rnn/experiments/exp_queue.py)."""
    experiments = [
        exp_queue.QueuedExperiment(name, tuple(set_options(ablations, name)[1::2])) for name in ablations.experiments
    ]
    exp_queue.run_queued(exp_queue.Queue(Path.cwd()), experiments, jobs)


def collect(
    ablations: Ablations, records: list[Record], load: Callable[[Record], Committed] = committed, output: Path = REPORT
) -> None:
    """Compare every experiment with the study, and keep beside `output` what the table is rendered from."""
    base = resolve(BASELINE, records, load)
    sides = [resolve(name, records, load) for name in ablations.experiments]
    rows = [row for side in sides for row in comparison.compare(base, side)]
    comparison.write_values(output, comparison.values(base, sides, rows), comparison.per_review(base, sides, rows))


def claim_columns(ablations: Ablations, base: str, rows: list[comparison.Row], margin: float) -> dict[int, dict]:
    """Per compared row's index: the report's claim on it, what its verdict tests and its verdicts (Holm over the
    claims of an epoch), and the report's figure; claims are judged on the ablations' archs only."""
    columns: dict[int, dict] = {}
    for indices in comparison.by_epoch(rows).values():
        differences = {
            (rows[index].arch, base, rows[index].other.label): rows[index].result.estimate for index in indices
        }
        judged = {
            index: ablations.experiments[rows[index].other.label].claim_about(base, rows[index].other.label)
            for index in indices
            if rows[index].arch in ablations.archs
        }
        judged = {index: claim for index, claim in judged.items() if claim is not None}
        estimates = [
            claims.judged_on(claim, lambda a, b, arch=rows[index].arch, found=differences: found[arch, a, b])
            for index, claim in judged.items()
        ]
        for (index, claim), verdict in zip(
            judged.items(), verdicts.judge_claims(list(judged.values()), estimates, margin), strict=True
        ):
            columns[index] = {
                "the report's claim": claim.text,
                "claim: tested": verdicts.tested(claim, margin),
                "claim: verdict": verdict.raw,
                "claim: after Holm": verdict.corrected,
                "claim: margin": verdict.margin_effect or "-",
            }
    for index, row in enumerate(rows):
        reported = ablations.experiments[row.other.label].reported
        if row.result is not None and row.arch in ablations.archs and reported is not None:
            columns.setdefault(index, {})["the report"] = f"{reported:.4f} (1 run)"
    return columns


def render(ablations: Ablations, margin: float, study_params: dict, output: Path = REPORT) -> str:
    """reports/ablations.md's text, from the values and per-review results kept beside `output` (`collect`).

    The values keep no params: the study's are `study_params` (params.yaml), an experiment's those and what
    claims.yaml has it set. The experiments kept must be claims.yaml's.
    """
    rerun = f"run `{REWRITE}` to run and compare claims.yaml's ablations"

    def params_of(label: str) -> dict:
        if label == BASELINE:
            return study_params
        if label not in ablations.experiments:
            raise StageError(f"{output.with_suffix('.json')} holds {label!r}, which claims.yaml does not list: {rerun}")
        return study_params | ablations.changes(label)

    base, sides = comparison.read_sides(output, REWRITE, params_of)
    missing = sorted(set(ablations.experiments) - {side.label for side in sides})
    if missing:
        raise StageError(f"{output.with_suffix('.json')} holds no {', '.join(missing)} (in claims.yaml): {rerun}")
    rows = [row for side in sides for row in comparison.compare(base, side)]
    frame = comparison.table(rows, base)
    extra = claim_columns(ablations, base.label, rows, margin)
    for column in (*CLAIM_COLUMNS, "the report"):
        frame[column] = [extra.get(index, {}).get(column, "-") for index in range(len(rows))]
    more = (
        f" *the report's claim*: judged on `{', '.join(ablations.archs)}`, the experiment minus `{base.label}`, at each"
        " epoch; *claim: tested* says what its verdict tests: 'no significant effect' holds when the 90% interval"
        f" lies within {margin_text(margin)} (`equivalence_margin`, TOST); Holm over the claims of the same epoch;"
        " *claim: margin* names a verdict that changes at half or double the margin."
        " *the report*: its figure for the same change, one run, last epoch."
    )
    return comparison.render(base, frame, more)


def report(ablations: Ablations, margin: float, study_params: dict, output: Path = REPORT) -> str:
    """Write reports/ablations.md (`output`) from the values and per-review results beside it; return its text."""
    text = render(ablations, margin, study_params, output)
    comparison.write_table(output, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "report"))
    parser.add_argument("-j", "--jobs", type=int, default=2, help="experiments at once (default: 2)")
    args = parser.parse_args()
    ablations = claims.load_claims().ablations
    if args.action == "run":
        with interruptible():
            run(ablations, args.jobs)
        collect(ablations, experiment_records())
        print("every experiment ran and was compared with the study")
    study_params = YAML(typ="safe", pure=True).load(PARAMS_FILE.read_text())
    print(report(ablations, load_params(Margin).equivalence_margin, study_params))


if __name__ == "__main__":
    run_stage(main)
