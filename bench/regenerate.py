"""Wall time of regenerating seed 0 of every architecture two ways: `dvc repro` against `tools.regenerate -j 2`.

    python -m bench.regenerate [--epochs 3] > regenerate.log     # about 15 min on 2 cores; time it on a quiet machine

Each way in a fresh clone of HEAD with its own DVC cache; the data stages run first, untimed. Then whether both
dvc.lock files are the same but for the outputs that record wall time.
"""

import argparse
import shutil
import sys

import torch
import yaml

from bench.clones import fresh_clones, run_in
from bench.speed import host_line, machine
from imdb_rnn.core.common import run_stage
from imdb_rnn.core.paths import PARAMS_FILE
from tools.regenerate import lock_without_timings

DVC = [sys.executable, "-m", "dvc"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training (default: 3)")
    epochs = parser.parse_args().epochs
    with fresh_clones(2, {"seeds": [0], "epochs": epochs}) as (serial, parallel):
        run_in(serial, [*DVC, "repro", "tokenize"])
        shutil.copytree(serial / ".dvc" / "cache", parallel / ".dvc" / "cache")  # the second restores the data stages
        run_in(parallel, [*DVC, "repro", "tokenize"])
        archs = ",".join(yaml.safe_load((serial / PARAMS_FILE).read_text())["archs"])
        print(f"# {host_line(machine(torch.device('cpu')))}; {archs} x seed 0 x {epochs} epochs\n")
        serial_seconds = run_in(serial, [*DVC, "repro"])
        parallel_seconds = run_in(parallel, [sys.executable, "-m", "tools.regenerate", "-j", "2"])
        same = lock_without_timings(serial / "dvc.lock") == lock_without_timings(parallel / "dvc.lock")
    print("| way | wall time |\n| --- | --- |")
    print(f"| dvc repro | {serial_seconds:.0f} s |")
    print(f"| python -m tools.regenerate -j 2 | {parallel_seconds:.0f} s ({parallel_seconds / serial_seconds:.2f}x) |")
    print(f"\ndvc.lock: {'the same' if same else 'DIFFERENT'} (but for outputs that record wall time)")


if __name__ == "__main__":
    run_stage(main)
