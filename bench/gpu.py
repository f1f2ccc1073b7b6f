"""One short run that measures a GPU: bench.speed, seed 0 of every architecture through DVC's stages, determinism.

    python -m bench.gpu bench-gpu/ [--device cpu]     # with data/processed: a few minutes on a GPU (cpu: the tests)

--repeat-arch is trained twice: its model files must be byte-identical. Writes OUT/gpu.json and OUT/gpu.md;
docs/performance.md says more.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from bench import speed
from bench.clones import fresh_clones, run_in
from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.paths import PARAMS_FILE, PROCESSED_DIR, model_file, run_name, test_metrics_file, train_summary_file
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
        row = {"arch": arch, "dvc_repro_seconds": run_in(clone, reproduce_run(run_name(arch, 0)))}
        summary = json.loads((clone / train_summary_file(arch, 0)).read_text())
        row |= {key: summary[key] for key in ("train_minutes", "best_val_acc")}
        rows.append(row | {"test_acc": json.loads((clone / test_metrics_file(arch, 0)).read_text())["test_acc"]})
    return rows


def trains_identically(clone: Path, arch: str) -> bool:
    """Whether training seed 0 of `arch` again in `clone` writes a byte-identical model file."""
    first = (clone / model_file(arch, 0)).read_bytes()
    run_in(clone, [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", f"train@{run_name(arch, 0)}"])
    return first == (clone / model_file(arch, 0)).read_bytes()


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
    os.environ.update(DETERMINISTIC_ENV)  # deterministic cuBLAS, for bench.speed and the stages alike
    command = [sys.executable, "-m", "bench.speed", "--json", "--device", device.type, *SPEED_ARGS[device.type]]
    measured = subprocess.run(command, cwd=speed.ROOT, capture_output=True, text=True)
    if measured.returncode != 0:
        raise StageError(f"`{' '.join(command[1:])}` failed:\n{measured.stderr}")
    with fresh_clones(1, {"seeds": [0], "epochs": args.epochs, "device": device.type}, args.project) as (clone,):
        shutil.copytree(args.project / PROCESSED_DIR, clone / PROCESSED_DIR)
        rows = pipeline(clone, archs)
        identical = trains_identically(clone, args.repeat_arch)
    report = {"machine": speed.machine(device), "command": "python -m bench.gpu " + " ".join(argv or sys.argv[1:])}
    report |= {"epochs": args.epochs, "pipeline": rows, "repeat_arch": args.repeat_arch, "identical": identical}
    report["speed"] = json.loads(measured.stdout)
    with atomic_output(args.out / "gpu.json") as json_path, atomic_output(args.out / "gpu.md") as markdown_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        markdown_path.write_text(markdown(report) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    run_stage(main)
