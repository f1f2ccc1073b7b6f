"""Does this machine reproduce the committed study? `python -m bench.reproducibility check > check.log` (~15 min on
2 cores) regenerates seed 0 of every architecture in a fresh clone and compares each test review's result, at both
epochs, with metrics/correct.npz at HEAD; exit status 1 if any differs."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from bench.clones import ROOT, fresh_clones, run_in
from bench.speed import host_line, machine
from imdb_rnn.analysis.aggregated import read_correct
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import CORRECT_FILE, PARAMS_FILE, predictions_file


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
                    raise StageError(f"{arch} seed 0: {len(mine)} test reviews, the committed study {len(theirs)}")
                differ = int((mine != theirs).sum())
                words.append(f"{epoch.label}: {f'{differ} of {len(mine)} reviews differ' if differ else 'identical'}")
                if differ:
                    differing.append(f"{arch} ({epoch.label})")
        print(f"{arch} seed 0: " + "; ".join(words))
    if differing:
        raise StageError(f"this machine does not reproduce the committed study: {', '.join(differing)} differ")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reproducibility", description=__doc__)
    parser.add_argument("what", choices=["check"], help="compare every test review with metrics/correct.npz at HEAD")
    parser.parse_args()
    shown = subprocess.run(["git", "show", f"HEAD:{CORRECT_FILE}"], cwd=ROOT, capture_output=True)
    if shown.returncode != 0:
        raise StageError(f"HEAD holds no {CORRECT_FILE} to compare with: {shown.stderr.decode().strip()}")
    print(f"# {host_line(machine(torch.device('cpu')))}", flush=True)
    with fresh_clones(1, {"seeds": [0]}) as (clone,):
        run_in(clone, [sys.executable, "-m", "tools.regenerate"])
        compare(clone, shown.stdout)


if __name__ == "__main__":
    run_stage(main)
