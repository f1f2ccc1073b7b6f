"""The report's ablations (ablations.yaml): rerun them as DVC experiments, and report them against the study.

    python -m tools.ablations run [-j 2]    # queue every experiment of ablations.yaml and run the queue
    python -m tools.ablations report        # reports/ablations.md, its values (.json) and per-review results (.npz)

An ablation is one entry of ablations.yaml: its params (the `-S` changes), its seeds, and the report's
claim and figure for it; nothing else names it. `run` runs one DVC experiment per entry (`dvc exp run
--queue -n <name> -S ...`: its params, the study's archs and its seeds) on DVC's queue, -j at once (each
training on `threads` threads, params.yaml), with the progress, the interruption and the resumption of
imdb_rnn/experiments/exp_queue.py: an experiment that already exists is replaced, and every run that DVC's run
cache holds (an interrupted `run`'s finished ones) is restored, not trained again. `report` compares each experiment
with the committed study (tools.compare) and judges its claim (imdb_rnn/analysis/significance.py).
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML, YAMLError

from imdb_rnn.analysis import significance
from imdb_rnn.analysis.significance import Claim
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.params import StageParams, load_params, seed_list, unique
from imdb_rnn.experiments import exp_queue
from imdb_rnn.experiments.processes import interruptible
from tools import compare
from tools.experiments import Committed, Record, committed, experiment_records, resolve

STUDY_FILE = Path("ablations.yaml")
REPORT = Path("reports/ablations.md")
BASELINE = "main"  # the committed study every experiment is compared with


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ClaimEntry(_Strict):
    text: str = Field(min_length=1)
    kind: Literal["better", "worse", "same"]  # the experiment against the study (significance.Claim)


class Experiment(_Strict):
    """One ablation: what it changes, on which seeds, and what the report claimed of it."""

    params: dict[str, object] = Field(min_length=1)  # key: value, as `-S key=value`
    seeds: list[int] = Field(min_length=1)
    claim: ClaimEntry | None = None
    reported: float | None = Field(default=None, ge=0, le=1)  # the report's test accuracy (one run, last epoch)

    _seeds = field_validator("seeds")(seed_list)

    def judged_claim(self) -> Claim | None:
        return None if self.claim is None else Claim(self.claim.text, self.claim.kind)


class Study(_Strict):
    archs: list[str] = Field(min_length=1)
    experiments: dict[str, Experiment] = Field(min_length=1)

    _archs = field_validator("archs")(unique)


class Margin(StageParams):
    """What the report reads of params.yaml: the margin of the equivalence claims."""

    equivalence_margin: float = Field(gt=0, lt=1)


def load_study(path: Path = STUDY_FILE) -> Study:
    """The study: its `archs`, and per experiment name its params, seeds, claim and the report's figure."""
    try:
        return Study.model_validate(YAML(typ="safe", pure=True).load(path.read_text()))
    except FileNotFoundError:
        raise StageError(f"{path} not found: run from the project root") from None
    except YAMLError as error:
        raise StageError(f"{path} is not valid YAML ({error})") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False))
        raise StageError(f"{path} is not a study definition ({problems}): see the comment at its top") from None


def override(value: object) -> str:
    """A value in DVC's -S (Hydra override) syntax: lists as [a,b], booleans as true/false."""
    if isinstance(value, list):
        return f"[{','.join(override(item) for item in value)}]"
    return json.dumps(value) if isinstance(value, bool) else str(value)


def set_options(study: Study, name: str) -> list[str]:
    """The -S options of experiment `name`: the study's archs, its seeds and its params."""
    experiment = study.experiments[name]
    values = {"archs": study.archs, "seeds": experiment.seeds, **experiment.params}
    return [option for key, value in values.items() for option in ("-S", f"{key}={override(value)}")]


def run(study: Study, jobs: int) -> None:
    """Every experiment of the study on DVC's queue, `jobs` at once (imdb_rnn/experiments/exp_queue.py)."""
    experiments = [
        exp_queue.QueuedExperiment(name, tuple(set_options(study, name)[1::2])) for name in study.experiments
    ]
    exp_queue.run_queued(exp_queue.Queue(Path.cwd()), experiments, jobs)
    print("every experiment ran; next: python -m tools.ablations report")


def claim_columns(study: Study, rows: list[compare.Row], margin: float) -> dict[int, dict]:
    """Per compared row's index: the report's claim on it and its verdicts (Holm over the claims of an epoch),
    and the report's figure; claims are judged on the study's archs only."""
    columns: dict[int, dict] = {}
    for indices in compare.by_epoch(rows).values():
        claimed = [
            index
            for index in indices
            if rows[index].arch in study.archs and study.experiments[rows[index].other.label].claim
        ]
        claims = [study.experiments[rows[index].other.label].judged_claim() for index in claimed]
        estimates = [[rows[index].result.estimate] for index in claimed]
        verdicts = significance.judge_claims(claims, estimates, margin)
        for index, claim, verdict in zip(claimed, claims, verdicts, strict=True):
            columns[index] = {
                "the report's claim": claim.text,
                "claim: verdict": verdict.raw,
                "claim: after Holm": verdict.corrected,
                "claim: margin": verdict.sensitive or "-",
            }
    for index, row in enumerate(rows):
        reported = study.experiments[row.other.label].reported
        if row.result is not None and row.arch in study.archs and reported is not None:
            columns.setdefault(index, {})["the report"] = f"{reported:.4f} (1 run)"
    return columns


def report(study: Study, margin: float, records: list[Record], load: Callable[[Record], Committed] = committed) -> str:
    """Write reports/ablations.md, its values (.json) and per-review results (.npz); return the markdown."""
    base = resolve(BASELINE, records, load)
    sides = [resolve(name, records, load) for name in study.experiments]
    rows = [row for side in sides for row in compare.compare(base, side)]
    frame = compare.table(rows, base)
    extra = claim_columns(study, rows, margin)
    for column in ("the report's claim", "claim: verdict", "claim: after Holm", "claim: margin", "the report"):
        frame[column] = [extra.get(index, {}).get(column, "-") for index in range(len(rows))]
    more = (
        f" *the report's claim*: judged on `{', '.join(study.archs)}`, 'no significant effect' holding when the 90%"
        f" interval lies within {significance.margin_text(margin)} (`equivalence_margin`, TOST), Holm over the"
        " claims of the same epoch; *claim: margin* names a verdict that changes at half or double the margin."
        " *the report*: its figure for the same change, one run, last epoch."
    )
    text = compare.render(base, frame, more)
    data = compare.values(base, sides, rows) | {"equivalence_margin": margin}
    compare.write(REPORT, text, data, compare.per_review(base, sides, rows))
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "report"))
    parser.add_argument("-j", "--jobs", type=int, default=2, help="experiments at once (default: 2)")
    args = parser.parse_args()
    study = load_study()
    if args.action == "run":
        with interruptible():
            run(study, args.jobs)
    else:
        print(report(study, load_params(Margin).equivalence_margin, experiment_records()))


if __name__ == "__main__":
    run_stage(main)
