"""Does this machine reproduce the committed study? And does the core count move a run's numbers? In fresh clones.

    python -m bench.reproducibility check > check.log     # ~15 min on 2 cores; exit status 1 if any review differs
    python -m bench.reproducibility cores > cores.log     # ~15 min on 2 cores

check: a clone regenerates seed 0 of every architecture (`python -m tools.regenerate`) and compares each test
review's result, at both epochs, with the committed study's (metrics/correct.npz at HEAD). cores: two clones run
`dvc repro` with seeds [0] at once, one on core 0, one on cores 0 and 1; their test accuracies beside HEAD's.
"""

import argparse
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from bench.clones import ROOT, fresh_clones, run_in
from bench.speed import host_line, machine
from imdb_rnn.analysis.aggregated import read_correct
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import CORRECT_FILE, PARAMS_FILE, RUNS_FILE, predictions_file
from imdb_rnn.experiments.processes import interruptible
from tools.regenerate import AtOnce

CORES = {"one core (taskset -c 0)": "0", "two cores (taskset -c 0,1)": "0,1"}  # name: the cores it may use


def at_head(path: Path) -> bytes:
    """A file of this project as its HEAD commit holds it."""
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True)
    if shown.returncode != 0:
        raise StageError(f"HEAD holds no {path} to compare with: {shown.stderr.decode().strip()}")
    return shown.stdout


def compare(clone: Path, committed: bytes) -> None:
    """Print, for seed 0 of each of the clone's archs at both epochs, "identical" or how many test reviews it scored
    otherwise than `committed` (a correct.npz's bytes); StageError if any differs, so the command exits 1."""
    study = read_correct(committed, "the committed metrics/correct.npz")
    differing = []
    for arch in yaml.safe_load((clone / PARAMS_FILE).read_text())["archs"]:
        if 0 not in study.get(arch, {}):
            raise StageError(f"the committed study has no {arch} seed 0 to compare with")
        words = []
        with np.load(clone / predictions_file(arch, 0)) as ours:
            for epoch in EPOCHS:
                mine, theirs = ours[epoch.review_key], study[arch][0][epoch.key]
                if len(mine) != len(theirs):
                    raise StageError(
                        f"{arch} seed 0 scored {len(mine)} test reviews, the committed study {len(theirs)}"
                    )
                differ = int((mine != theirs).sum())
                words.append(
                    f"{epoch.label}: " + (f"{differ} of {len(mine)} reviews differ" if differ else "identical")
                )
                if differ:
                    differing.append(f"{arch} ({epoch.label})")
        print(f"{arch} seed 0: " + "; ".join(words))
    if differing:
        raise StageError(f"this machine does not reproduce the committed study: {', '.join(differing)} differ")


def seed_zero(runs: pd.DataFrame) -> pd.DataFrame:
    """The seed-0 runs' test accuracies (best-validation epoch, last epoch), by arch, from a runs.csv."""
    return runs[runs["seed"] == 0].set_index("arch")[[epoch.key for epoch in EPOCHS]]


def cores() -> None:
    """Seed 0 of every arch trained on one core and on two at once, in two clones; the test accuracies."""
    with fresh_clones(len(CORES), {"seeds": [0]}) as clones:
        commands = {
            name: ["taskset", "-c", cpus, sys.executable, "-m", "dvc", "--cd", str(clone), "repro"]
            for (name, cpus), clone in zip(CORES.items(), clones, strict=True)
        }
        AtOnce(commands, len(commands), log_dir=clones[0] / "bench-logs").run()
        tables = {name: seed_zero(pd.read_csv(clone / RUNS_FILE)) for name, clone in zip(CORES, clones, strict=True)}
    tables["committed study"] = seed_zero(pd.read_csv(io.BytesIO(at_head(RUNS_FILE))))
    print(pd.concat(tables, names=["where", "arch"]).reset_index().to_markdown(index=False, floatfmt=".5f"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reproducibility", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("check", "cores"), help="what to run (see the module's docstring)")
    what = parser.parse_args().what
    print(f"# {host_line(machine(torch.device('cpu')))}", flush=True)
    with interruptible("the clones were removed"):
        if what == "cores":
            return cores()
        committed = at_head(CORRECT_FILE)
        with fresh_clones(1, {"seeds": [0]}) as (clone,):
            run_in(clone, [sys.executable, "-m", "tools.regenerate"])
            compare(clone, committed)


if __name__ == "__main__":
    run_stage(main)
