"""One short run that measures a GPU: bench.speed, seed 0 of every architecture through DVC's stages, determinism.

    python -m bench.gpu bench-gpu/                  # on a CUDA machine, with data/processed: a few minutes
    python -m bench.gpu bench-gpu/ --device cpu     # the same steps on the CPU (the tests: a tiny --project)

`bench.speed --json` on the device; then, in a fresh clone of --project with its tokenized data copied in, each
architecture's seed 0 through `dvc repro` (tools.regenerate's command for one run), and --repeat-arch trained again
(`dvc repro --force`): its model file must be byte-identical (deterministic algorithms, as the stages train, and
CUBLAS_WORKSPACE_CONFIG=:4096:8). Writes OUT/gpu.json and OUT/gpu.md; docs/performance.md says more.
"""

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from bench import speed
from bench.clones import fresh_clones, run_in
from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.paths import PARAMS_FILE, PROCESSED_DIR, model_file, run_name, test_metrics_file, train_summary_file
from imdb_rnn.experiments.processes import interruptible
from imdb_rnn.training.loops import resolve_device
from tools.regenerate import reproduce_run

DETERMINISTIC_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
SPEED_ARGS = {
    "cuda": ["--reviews", "3200", "--repeats", "3"],
    "cpu": ["--synthetic", "--reviews", "40", "--repeats", "1", "--seq-len", "30", "--hidden", "8", "--embed-dim", "8"]
    + ["--batch-size", "16", "--threads", "1", "--archs", "lstm", "lstm_manual"],
}


def pipeline(clone: Path, archs: list[str]) -> list[dict]:
    """Train and evaluate seed 0 of every arch in `clone` through DVC: wall seconds, training minutes, accuracies."""
    rows = []
    for arch in archs:
        seconds = run_in(clone, reproduce_run(run_name(arch, 0)))
        summary = json.loads((clone / train_summary_file(arch, 0)).read_text())
        test = json.loads((clone / test_metrics_file(arch, 0)).read_text())
        rows.append(
            {"arch": arch, "dvc_repro_seconds": seconds, "train_minutes": summary["train_minutes"]}
            | {"best_val_acc": summary["best_val_acc"], "test_acc": test["test_acc"]}
        )
    return rows


def trains_identically(clone: Path, arch: str) -> bool:
    """Whether training seed 0 of `arch` again in `clone` writes a byte-identical model file."""
    first = clone.parent / "first-model"
    shutil.copy(clone / model_file(arch, 0), first)
    run_in(clone, [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", f"train@{run_name(arch, 0)}"])
    return filecmp.cmp(first, clone / model_file(arch, 0), shallow=False)


def markdown(report: dict) -> str:
    """The report as markdown: what ran where, the pipeline's table, determinism, bench.speed's tables."""
    same = "identical model files" if report["identical"] else "**the model files differ**"
    parts = [
        f"# bench.gpu\n\n{speed.host_line(report['machine'])}\n\nCommand: `{report['command']}`",
        f"## Seed 0 through DVC, {report['epochs']} epochs, CUBLAS_WORKSPACE_CONFIG={DETERMINISTIC_ENV['CUBLAS_WORKSPACE_CONFIG']}",
        pd.DataFrame(report["pipeline"]).to_markdown(index=False, floatfmt=".4g"),
        f"## Determinism: {report['repeat_arch']} trained twice: {same}",
        "## bench.speed\n\n" + speed.render(report["speed"]),
    ]
    if report["machine"]["device"] != "cuda":
        parts.insert(1, "**No GPU**: every step ran on the CPU; no figure here is a GPU's.")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for gpu.json and gpu.md (created)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument("--project", type=Path, default=speed.ROOT, help="the project to clone (default: this one)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per training (default: 2)")
    parser.add_argument("--repeat-arch", default="lstm", help="the architecture trained twice (default: lstm)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    if not (args.project / PROCESSED_DIR).is_dir():
        raise StageError(f"no tokenized data in {args.project / PROCESSED_DIR}: run `dvc repro tokenize` there first")
    archs = yaml.safe_load((args.project / PARAMS_FILE).read_text())["archs"]
    if args.repeat_arch not in archs:
        raise StageError(f"--repeat-arch {args.repeat_arch!r} is not in params.yaml's archs; choose from {archs}")
    os.environ.update(DETERMINISTIC_ENV)
    command = [sys.executable, "-m", "bench.speed", "--json", "--device", device.type, *SPEED_ARGS[device.type]]
    measured = subprocess.run(command, cwd=speed.ROOT, capture_output=True, text=True)
    if measured.returncode != 0:
        raise StageError(f"`{' '.join(command[1:])}` failed:\n{measured.stderr}")
    params = {"seeds": [0], "epochs": args.epochs, "device": device.type}
    with interruptible("the clone was removed"), tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch:
        with fresh_clones(1, params, args.project, Path(scratch)) as (clone,):
            shutil.copytree(args.project / PROCESSED_DIR, clone / PROCESSED_DIR)
            rows = pipeline(clone, archs)
            identical = trains_identically(clone, args.repeat_arch)
    report = {
        "machine": speed.machine(device),
        "command": "python -m bench.gpu " + " ".join(argv if argv is not None else sys.argv[1:]),
        "epochs": args.epochs,
        "pipeline": rows,
        "repeat_arch": args.repeat_arch,
        "identical": identical,
        "speed": json.loads(measured.stdout),
    }
    with atomic_output(args.out / "gpu.json") as json_path, atomic_output(args.out / "gpu.md") as markdown_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        markdown_path.write_text(markdown(report) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    run_stage(main)
