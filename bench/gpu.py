"""One short run that measures the GPU: bench.speed, one seed of every architecture through the stages, determinism.

    python -m bench.gpu bench-gpu/          # on a CUDA machine: a few minutes (goal: under 8)
    python -m bench.gpu bench-gpu/ --cpu    # the same steps on the CPU, at tiny sizes (what CI runs)

Writes OUT/gpu.json and OUT/gpu.md (markdown tables), after these steps:

1. speed: `python -m bench.speed --device cuda --reviews 3200 --repeats 3` (its JSON is kept whole).
2. pipeline: in a scratch copy of stages/, imdb_rnn/ and params.yaml, with tokenize's output (this
   project's data/processed, or --data), `python -m stages.train ARCH 0` then `python -m stages.evaluate
   ARCH 0` for every architecture of params.yaml, with seeds [0], device cuda and --epochs epochs: each
   stage's wall time, the best validation and the test accuracy.
3. determinism: --repeat-arch (default lstm, cuDNN's kernel) trained again in a second scratch copy; its
   checkpoint must hold the same weights, bit for bit. The stages train with
   torch.use_deterministic_algorithms on; CUBLAS_WORKSPACE_CONFIG=:4096:8 makes cuBLAS deterministic.

Without a CUDA GPU (or with --cpu) every step runs on the CPU at tiny sizes (synthetic reviews for the
speed, the first --cpu-reviews reviews of each split and 8-wide models for the pipeline), and the
report says what was skipped: every GPU figure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from safetensors.torch import save_file

from bench.speed import ROOT, machine
from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.paths import (
    PARAMS_FILE,
    PROCESSED_DIR,
    STATS_FILE,
    VOCAB_FILE,
    model_file,
    split_file,
    test_metrics_file,
    train_summary_file,
)
from imdb_rnn.training.checkpoint import load_checkpoint
from imdb_rnn.training.data import SPLITS, load_split

DETERMINISTIC_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
SPEED_ON_GPU = ["--device", "cuda", "--reviews", "3200", "--repeats", "3"]
SPEED_ON_CPU = ["--device", "cpu", "--synthetic", "--reviews", "40", "--repeats", "1", "--seq-len", "30"]
SPEED_ON_CPU += ["--hidden", "8", "--embed-dim", "8", "--batch-size", "16", "--threads", "1"]
TINY_MODEL = {"embed_dim": 8, "hidden": 8}  # the pipeline's sizes on the CPU


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """A command with this interpreter as `python` and cuBLAS made deterministic; StageError with its output if it fails."""
    env = {**os.environ, **DETERMINISTIC_ENV}
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"`python {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def copy_data(source: Path, target: Path, reviews: int | None) -> None:
    """tokenize's output from `source` into `target`: whole, or the first `reviews` reviews of each split."""
    target.mkdir(parents=True)
    for name in (VOCAB_FILE.name, STATS_FILE.name):
        shutil.copy(source / name, target / name)
    for split in SPLITS:
        if reviews is None:
            shutil.copy(split_file(split, source), split_file(split, target))
        else:
            tensors = {key: tensor[:reviews].contiguous() for key, tensor in load_split(split, source).items()}
            save_file(tensors, split_file(split, target))


def scratch_project(directory: Path, data: Path, params: dict, reviews: int | None) -> Path:
    """A copy of the stages' code and params.yaml (with `params` changed) under `directory`, with the data."""
    for name in ("imdb_rnn", "stages"):
        shutil.copytree(ROOT / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    settings = yaml.safe_load((ROOT / PARAMS_FILE).read_text()) | params
    (directory / PARAMS_FILE).write_text(yaml.safe_dump(settings, sort_keys=False))
    copy_data(data, directory / PROCESSED_DIR, reviews)
    return directory


def pipeline(project: Path, archs: list[str]) -> list[dict]:
    """Train and evaluate seed 0 of every arch in `project`: wall times and accuracies."""
    rows = []
    for arch in archs:
        started = time.perf_counter()
        run(["-m", "stages.train", arch, "0"], project)
        trained = time.perf_counter()
        run(["-m", "stages.evaluate", arch, "0"], project)
        summary = json.loads((project / train_summary_file(arch, 0)).read_text())
        test = json.loads((project / test_metrics_file(arch, 0)).read_text())
        rows.append(
            {
                "arch": arch,
                "train_seconds": trained - started,
                "evaluate_seconds": time.perf_counter() - trained,
                "best_val_acc": summary["best_val_acc"],
                "test_acc": test["test_acc"],
            }
        )
    return rows


def same_weights(first: Path, second: Path) -> dict:
    """Whether two checkpoints hold bit-identical weights (best and last epoch), and their largest difference."""
    a, b = load_checkpoint(first), load_checkpoint(second)
    pairs = [(a.state_dict[k], b.state_dict[k]) for k in a.state_dict]
    pairs += [(a.final_state_dict[k], b.final_state_dict[k]) for k in a.final_state_dict]
    largest = max(float((x.double() - y.double()).abs().max()) for x, y in pairs)
    return {"identical": all(torch.equal(x, y) for x, y in pairs), "max_abs_difference": largest}


def markdown(report: dict) -> str:
    """The report as markdown: what ran where, the pipeline's table, determinism, the speed ratios."""
    host = report["machine"]
    lines = [
        f"# bench.gpu, {host['date']}",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, torch {host['torch']}, device {host['device']}"
        + (f" ({host['gpu']}, CUDA {host['cuda']}, cuDNN {host['cudnn']})" if "gpu" in host else ""),
        f"Command: `{report['command']}`",
        "",
    ]
    lines += [f"**Skipped:** {line}" for line in report["skipped"]] + ([""] if report["skipped"] else [])
    lines += [
        f"## Pipeline, seed 0, {report['epochs']} epochs",
        "",
        pd.DataFrame(report["pipeline"]).to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    check = report["determinism"]
    verdict = (
        "identical weights" if check["identical"] else f"weights differ (largest {check['max_abs_difference']:.3g})"
    )
    lines += [f"## Determinism: {check['arch']} trained twice: {verdict}", ""]
    speed = report["speed"]
    for title, rows in (
        ("manual / torch time", speed["manual_vs_torch"]),
        ("reference / project time", speed["reference_vs_project"]),
    ):
        table = pd.DataFrame(rows).drop(columns=["train_ratio_runs", "eval_ratio_runs"])
        lines += [f"## bench.speed: {title}", "", table.to_markdown(index=False, floatfmt=".2f"), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for gpu.json and gpu.md (created)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU at tiny sizes even if there is a GPU")
    parser.add_argument("--data", type=Path, default=ROOT / PROCESSED_DIR, help="tokenize's output (default: ours)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per training (default: 2)")
    parser.add_argument("--repeat-arch", default="lstm", help="the architecture trained twice (default: lstm)")
    parser.add_argument("--cpu-reviews", type=int, default=64, help="reviews per split on the CPU (default: 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    on_gpu = torch.cuda.is_available() and not args.cpu
    if not (args.data / VOCAB_FILE.name).exists():
        raise StageError(f"no tokenized data in {args.data}: run `dvc repro tokenize`, or give --data")
    archs = yaml.safe_load((ROOT / PARAMS_FILE).read_text())["archs"]
    if args.repeat_arch not in archs:
        raise StageError(f"--repeat-arch {args.repeat_arch!r} is not in params.yaml's archs; choose from {archs}")
    skipped = [] if on_gpu else ["no CUDA GPU used: every step ran on the CPU at tiny sizes; no GPU figure."]
    params = {"seeds": [0], "epochs": args.epochs, "device": "cuda" if on_gpu else "cpu"}
    params |= {} if on_gpu else TINY_MODEL
    reviews = None if on_gpu else args.cpu_reviews

    speed = json.loads(run(["-m", "bench.speed", "--json", *(SPEED_ON_GPU if on_gpu else SPEED_ON_CPU)], ROOT).stdout)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch:
        first = scratch_project(Path(scratch) / "first", args.data, params, reviews)
        rows = pipeline(first, archs)
        again = scratch_project(Path(scratch) / "again", args.data, params, reviews)
        run(["-m", "stages.train", args.repeat_arch, "0"], again)
        determinism = {"arch": args.repeat_arch} | same_weights(
            first / model_file(args.repeat_arch, 0), again / model_file(args.repeat_arch, 0)
        )
    device = torch.device("cuda" if on_gpu else "cpu")
    report = {
        "machine": machine(device),
        "command": "python -m bench.gpu " + " ".join(argv if argv is not None else sys.argv[1:]),
        "skipped": skipped,
        "epochs": args.epochs,
        "environment": DETERMINISTIC_ENV,
        "speed": speed,
        "pipeline": rows,
        "determinism": determinism,
    }
    with atomic_output(args.out / "gpu.json") as json_path, atomic_output(args.out / "gpu.md") as markdown_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        markdown_path.write_text(markdown(report) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    run_stage(main)
