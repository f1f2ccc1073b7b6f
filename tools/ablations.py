"""Rerun the report's ablations (ablations.yaml) as DVC experiments, and compare them with the study.

    python -m tools.ablations run [-j 2]    # queue every experiment of ablations.yaml and run the queue
    python -m tools.ablations report        # reports/ablations.md and its per-seed values, via tools.compare

`run` runs one DVC experiment per entry (`dvc exp run --queue -n <name> -S ...`: its params, its archs and
seeds) on DVC's queue, -j at once (each training on `threads` threads, params.yaml), with the progress, the
interruption and the resumption of tools/exp_queue.py: an experiment that already exists is replaced, and
every run that DVC's run cache holds (an interrupted `run`'s finished ones) is restored, not trained again.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from imdb_rnn.common import StageError, run_stage
from tools.exp_queue import Experiment, Queue, interruptible, run_queued

STUDY_FILE = Path("ablations.yaml")
REPORT = Path("reports/ablations.md")


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


def run(study: dict, jobs: int) -> None:
    """Every experiment of the study on DVC's queue, `jobs` at once (tools/exp_queue.py)."""
    experiments = [
        Experiment(name, set_params=tuple(set_options(study, experiment)[1::2]))
        for name, experiment in study["experiments"].items()
    ]
    run_queued(Queue(Path.cwd()), experiments, jobs)
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
        with interruptible():
            run(study, args.jobs)
    else:
        report(study)


if __name__ == "__main__":
    run_stage(main)
