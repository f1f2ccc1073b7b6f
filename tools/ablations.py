"""Rerun the report's ablations (ablations.yaml) as DVC experiments, and compare them with the study.

    python -m tools.ablations run [-j 2]    # queue every experiment of ablations.yaml and run the queue
    python -m tools.ablations report        # reports/ablations.md and its per-seed values, via tools.compare

`run` queues one `dvc exp run --queue -n <name> -S ...` per experiment (its params, its archs and seeds) and
starts DVC's queue with -j workers (each training on `threads` threads, params.yaml), then waits until the
queue is empty; an experiment that already exists is replaced (`--force`). Each queued experiment runs
in a copy of the project, where DVC 3.67 did not restore stages from the run cache: `run` trains every
run again (20 runs of lstm_manual, about an hour on 2 cores). To rebuild an experiment whose runs are in
the run cache, run it in the workspace instead, with the same options: `dvc exp run -n <name> -S ...`.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from imdb_rnn.common import StageError, run_stage

STUDY_FILE = Path("ablations.yaml")
REPORT = Path("reports/ablations.md")
POLL_SECONDS = 30


def load_study(path: Path = STUDY_FILE) -> dict:
    """The study: `archs`, and per experiment name its `params` (key: value) and `seeds`."""
    try:
        study = YAML(typ="safe", pure=True).load(path.read_text())
        for name, experiment in study["experiments"].items():
            if not experiment.get("params") or not experiment.get("seeds"):
                raise KeyError(f"experiment {name} needs params and seeds")
        return study
    except FileNotFoundError:
        raise StageError(f"{path} not found: run from the project root") from None
    except (YAMLError, KeyError, TypeError, AttributeError) as error:
        raise StageError(f"{path} is not a study definition ({error}): see the comment at its top") from None


def override(value: object) -> str:
    """A value in DVC's -S (Hydra override) syntax: lists as [a,b], booleans as true/false."""
    if isinstance(value, list):
        return f"[{','.join(override(item) for item in value)}]"
    return json.dumps(value) if isinstance(value, bool) else str(value)


def set_options(study: dict, experiment: dict) -> list[str]:
    """The -S options of one experiment: its archs, its seeds and its params."""
    values = {"archs": study["archs"], "seeds": experiment["seeds"], **experiment["params"]}
    return [option for key, value in values.items() for option in ("-S", f"{key}={override(value)}")]


def dvc(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"`dvc {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result


def pending(status: str) -> list[str]:
    """The names of the queued or running experiments in `dvc queue status`'s table."""
    rows = [line.split() for line in status.splitlines()]
    return [row[1] for row in rows if len(row) >= 4 and row[-1] in ("Queued", "Running")]


def run(study: dict, jobs: int) -> None:
    for name, experiment in study["experiments"].items():
        dvc("exp", "run", "--queue", "--force", "-n", name, *set_options(study, experiment))
        print(f"queued {name}: {' '.join(set_options(study, experiment)[1::2])}")
    dvc("queue", "start", "-j", str(jobs))
    started = time.monotonic()
    while waiting := pending(dvc("queue", "status").stdout):
        print(f"{(time.monotonic() - started) / 60:.0f} min: waiting for {', '.join(waiting)}", flush=True)
        time.sleep(POLL_SECONDS)
    failed = [line for line in dvc("queue", "status").stdout.splitlines() if line.rstrip().endswith("Failed")]
    if failed:
        raise StageError(f"experiments failed: {'; '.join(failed)}; see `dvc queue logs <name>`")
    print("every experiment ran; next: python -m tools.ablations report")


def report(study: dict) -> None:
    command = [sys.executable, "-m", "tools.compare", "main", *study["experiments"], "-o", str(REPORT)]
    if subprocess.run(command).returncode != 0:
        raise StageError("tools.compare failed (its message is above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "report"))
    parser.add_argument("-j", "--jobs", type=int, default=2, help="experiments at once (default: 2)")
    args = parser.parse_args()
    study = load_study()
    if args.action == "run":
        run(study, args.jobs)
    else:
        report(study)


if __name__ == "__main__":
    run_stage(main)
