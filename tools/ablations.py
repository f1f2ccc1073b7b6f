"""The report's ablations (claims.yaml, `ablations`): rerun them as DVC experiments, and report them against the study.

    python -m tools.ablations run [NAME ...] [--seeds S ...] [-j 2]  # run them, write reports/ablations.{json,npz,md}
    python -m tools.ablations collect       # compare again the experiments that ran (and the kept seeds), run none
    python -m tools.ablations report        # reports/ablations.md again, from the committed .json and .npz

An ablation is one entry of claims.yaml's `ablations`: its params (the `-S` changes), its seeds, its archs
if not the ablations', and the report's claim and figure for it; nothing else names it. An entry with a
`goal` is a confirmation (imdb_rnn/experiments/confirmation.py): the configuration tools.search chose,
judged against the goal, the study's best architecture on validation and the NBSVM baseline. `run` runs
one DVC experiment per entry and seed (`dvc exp run --queue -n <name>-<seed> -S ...`) on DVC's queue, -j
at once (each training on `threads` threads, params.yaml), with the progress, the interruption and the
resumption of imdb_rnn/experiments/exp_queue.py: an experiment that already exists is replaced, and
every run that DVC's run cache holds (an interrupted `run`'s finished ones) is restored, not trained
again. Each time one lands, it compares every entry with the committed study
(imdb_rnn/experiments/comparison.py) and keeps every per-seed accuracy (.json) and per-review result
(.npz) it compared, so that each seed can be committed as it lands: an entry's seeds that no experiment
holds are kept from those files when they ran with the same params (another session's, another machine's).
`report` renders the table from those two files alone, no experiment needed, and judges each claim
(imdb_rnn/verdicts.py) at params.yaml's `equivalence_margin`.
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field
from ruamel.yaml import YAML

from imdb_rnn import verdicts
from imdb_rnn.analysis import claims
from imdb_rnn.analysis.baseline import read_baseline
from imdb_rnn.analysis.claims import Ablations
from imdb_rnn.analysis.formatting import margin_text
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import PARAMS_FILE
from imdb_rnn.experiments import comparison, confirmation, exp_queue
from imdb_rnn.experiments.processes import interruptible
from imdb_rnn.experiments.records import (
    Committed,
    Record,
    Side,
    committed,
    experiment_records,
    resolve,
    resolve_named,
    run_params,
)

REPORT = Path("reports/ablations.md")
BASELINE = "main"  # the committed study every experiment is compared with
REWRITE = "python -m tools.ablations run"
LANDING_ATTEMPTS, LANDING_RETRY_SECONDS = 3, 10.0  # `dvc exp show` as a seed lands, while others run
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


def seed_name(name: str, seed: int) -> str:
    """The DVC experiment that runs seed `seed` of entry `name`."""
    return f"{name}-{seed}"


def queued(ablations: Ablations, names: list[str], seeds: list[int] | None = None) -> list[exp_queue.QueuedExperiment]:
    """One experiment per entry of `names` and per seed of its (those among `seeds`, when given)."""
    experiments = []
    for name in names:
        options = set_options(ablations, name)[1::2]
        for seed in ablations.experiments[name].seeds:
            if seeds is None or seed in seeds:
                one_seed = tuple(f"seeds=[{seed}]" if option.startswith("seeds=") else option for option in options)
                experiments.append(exp_queue.QueuedExperiment(seed_name(name, seed), one_seed))
    return experiments


def run(ablations: Ablations, names: list[str], seeds: list[int] | None, jobs: int) -> None:
    """The experiments of `names` on DVC's queue, `jobs` at once; the files beside the report rewritten as each lands."""
    experiments = queued(ablations, names, seeds)
    if not experiments:
        raise StageError(f"no experiment to run: none of {', '.join(names)} has a seed among {seeds}")

    def compare() -> None:
        collect(ablations, experiment_records())

    exp_queue.run_queued(exp_queue.Queue(Path.cwd()), experiments, jobs, lambda name: print(landed(name, compare)))


def landed(name: str, compare: Callable[[], None], wait: Callable[[float], None] = time.sleep) -> str:
    """compare() (every entry again, `collect`) as experiment `name` lands; what happened, in words.

    A comparison in passing must not stop the runs: another entry may have no run yet, and `dvc exp show`
    fails now and then while the queue starts an experiment ("Empty git repo"), so it is tried again; the
    final collect of `run` says what still fails.
    """
    failure = ""
    for _ in range(LANDING_ATTEMPTS):
        try:
            compare()
        except StageError as error:
            return f"{name} landed; not compared yet: {error}"
        except Exception as error:  # DVC's and scmrepo's, while the queue changes
            failure = str(error)
            wait(LANDING_RETRY_SECONDS)
        else:
            return f"{name} landed: {REPORT.with_suffix('.json')} and .npz rewritten"
    return f"{name} landed; not compared yet: `dvc exp show` failed {LANDING_ATTEMPTS} times ({failure})"


def _kept(output: Path) -> dict[str, tuple[Side, dict | None]]:
    """The sides the files beside `output` keep, with the params their runs had (None in files before they did)."""
    if not output.with_suffix(".json").exists():
        return {}
    params = {
        entry["label"]: entry.get("params") for entry in json.loads(output.with_suffix(".json").read_text())["sides"]
    }
    base, sides = comparison.read_sides(output, REWRITE, lambda label: params[label] or {})
    return {side.label: (side, params[side.label]) for side in [base, *sides]}


def _with_kept(ran: Side | None, kept: tuple[Side, dict | None] | None) -> Side | None:
    """`ran` with the kept side's seeds that it did not run, when they ran with the same params; else either one."""
    if kept is None or ran is None:
        return ran or (kept and kept[0])
    side, params = kept
    if params != run_params(ran.params):
        return ran
    for arch, by_seed in side.correct.items():
        for seed, results in by_seed.items():
            if seed not in ran.correct.get(arch, {}):
                ran.add_run(arch, seed, results, side.diverged[arch][seed], side.run_info.get(arch, {}).get(seed))
    ran.revs.extend(rev for rev in side.revs if rev not in ran.revs)
    return ran


def collect(
    ablations: Ablations, records: list[Record], load: Callable[[Record], Committed] = committed, output: Path = REPORT
) -> None:
    """Compare every entry with the study, and keep beside `output` what the table is rendered from.

    An entry's side pools its seeds' experiments and the seeds the files beside `output` keep (`_with_kept`).
    """
    base = resolve(BASELINE, records, load)
    kept = _kept(output)
    sides = []
    for name, experiment in ablations.experiments.items():
        names = [seed_name(name, seed) for seed in experiment.seeds]
        side = _with_kept(resolve_named(name, names, records, load), kept.get(name))
        if side is None:
            raise StageError(f"{name} has no run yet: run `{REWRITE} {name}`")
        sides.append(side)
    rows = [row for side in sides for row in comparison.compare(base, side)]
    confirmed = [confirmation.best_on_validation(base)] if any(e.goal for e in ablations.experiments.values()) else []
    packed = comparison.per_review(base, sides, rows, confirmed)
    comparison.write_values(output, comparison.values(base, sides, rows), packed)


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
            if rows[index].arch in ablations.archs_of(rows[index].other.label)
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
        if row.result is not None and row.arch in ablations.archs_of(row.other.label) and reported is not None:
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
    own = " (an entry's own archs, if it names them)" if any(e.archs for e in ablations.experiments.values()) else ""
    more = (
        f" *the report's claim*: judged on `{', '.join(ablations.archs)}`{own}, the experiment minus `{base.label}`, at each"
        " epoch; *claim: tested* says what its verdict tests: 'no significant effect' holds when the 90% interval"
        f" lies within {margin_text(margin)} (`equivalence_margin`, TOST); Holm over the claims of the same epoch;"
        " *claim: margin* names a verdict that changes at half or double the margin."
        " *the report*: its figure for the same change, one run, last epoch."
    )
    parts = [comparison.render(base, frame, more)]
    for side in sides:
        if goal := ablations.experiments[side.label].goal:
            parts.append(confirmation.render(side, base, goal, read_baseline(), margin))
    return "\n".join(parts)


def report(ablations: Ablations, margin: float, study_params: dict, output: Path = REPORT) -> str:
    """Write reports/ablations.md (`output`) from the values and per-review results beside it; return its text."""
    text = render(ablations, margin, study_params, output)
    comparison.write_table(output, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "collect", "report"))
    parser.add_argument("names", nargs="*", help="the entries to run (default: every one of claims.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these of their seeds (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="experiments at once (default: 2)")
    args = parser.parse_args()
    ablations = claims.load_claims().ablations
    if unknown := [name for name in args.names if name not in ablations.experiments]:
        parser.error(f"{', '.join(unknown)}: not in claims.yaml's ablations ({', '.join(ablations.experiments)})")
    if args.action != "run" and (args.names or args.seeds):
        parser.error(f"{args.action} takes no names or seeds: it compares or renders every entry")
    if args.action == "run":
        with interruptible():
            run(ablations, args.names or list(ablations.experiments), args.seeds, args.jobs)
    if args.action in ("run", "collect"):
        collect(ablations, experiment_records())
        print("every entry was compared with the study")
    study_params = YAML(typ="safe", pure=True).load(PARAMS_FILE.read_text())
    print(report(ablations, load_params(Margin).equivalence_margin, study_params))


if __name__ == "__main__":
    run_stage(main)
