"""Which settings move the numbers, and what the portable-numerics setting costs: a short training per setting.

    python -m bench.numerics [--archs rnn gru] [--batches 60]     # every architecture: about 15 min on 2 cores

Per setting (SETTINGS), in a fresh process on one core when it can, each architecture trains from seed 0 on --batches
batches of 64 reviews, then scores 2,048 others; docs/reproducibility.md describes the settings and quotes the output.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from imdb_rnn import architectures

SETTINGS = {  # name: (threads, portable, extra environment)
    "default": (1, False, {}),
    "default, 2 threads": (2, False, {}),
    "portable": (1, True, {}),
    "portable, 2 threads": (2, True, {}),
    "portable, ATen at the CPU's best (AVX-512 here)": (1, True, {"ATEN_CPU_CAPABILITY": ""}),
    "portable, ATen without SIMD (below the floor)": (1, True, {"ATEN_CPU_CAPABILITY": "default"}),
    "MKL COMPATIBLE only": (1, False, {"MKL_CBWR": "COMPATIBLE"}),
    "MKL AVX2 only (honoured on Intel CPUs only)": (1, False, {"MKL_CBWR": "AVX2"}),
    "ATen AVX2 only": (1, False, {"ATEN_CPU_CAPABILITY": "avx2"}),
    "oneDNN AVX2 only": (1, False, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
}
REVIEWS_SCORED = 2048


def worker(archs: list[str], batches: int, threads: int, portable: bool) -> None:
    """Train and score each architecture; print one JSON line per architecture."""
    from imdb_rnn.training import environment

    environment.configure(threads, portable)  # before torch computes anything

    import torch
    import torch.nn.functional as F

    from bench.reviews import load_reviews
    from bench.timing import Setup, project_model
    from imdb_rnn.training.data import batches as make_batches
    from imdb_rnn.training.loops import predict, train_epoch

    reviews, vocab_size, source = load_reviews(Path.cwd(), batches * 64 + REVIEWS_SCORED, 0, False, 200, 20000)
    train_part = {key: value[: batches * 64] for key, value in reviews.items()}
    scored = {key: value[batches * 64 :] for key, value in reviews.items()}
    cpu = torch.device("cpu")
    setup = Setup(embed_dim=64, hidden=64, batch_size=64, lr=1e-3, weight_decay=1e-4, device=cpu, repeats=1)
    for arch in archs:
        model, optimizer = project_model(arch, vocab_size, setup)
        data = make_batches(train_part, 64, True, generator=torch.Generator().manual_seed(0))
        started = time.process_time()
        train_epoch(model, data, F.cross_entropy, optimizer, cpu, arch)
        trained = time.process_time()
        logits, _ = predict(model, make_batches(scored, 1024, True), cpu)
        scored_at = time.process_time()
        digest = hashlib.sha256(logits.numpy().tobytes())
        for tensor in model.state_dict().values():
            digest.update(tensor.numpy().tobytes())
        result = {"arch": arch, "digest": digest.hexdigest()[:12], "data": source}
        result |= {"train_cpu_s": round(trained - started, 2), "score_cpu_s": round(scored_at - trained, 2)}
        print(json.dumps(result | environment.numerics()), flush=True)


def run_setting(name: str, archs: list[str], batches: int) -> list[dict]:
    threads, portable, extra = SETTINGS[name]
    env = {key: value for key, value in os.environ.items() if key not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY")}
    env |= {key: value for key, value in extra.items() if value}
    command = [sys.executable, "-m", "bench.numerics", "--worker", str(threads), str(int(portable))]
    command += ["--archs", *archs, "--batches", str(batches)]
    if shutil.which("taskset") and threads == 1:
        command = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), *command]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) | {"setting": name} for line in output.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.numerics", description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(architectures.NAMES), choices=architectures.NAMES)
    parser.add_argument("--batches", type=int, default=60, help="training batches per architecture (default 60)")
    parser.add_argument("--worker", nargs=2, type=int, metavar=("THREADS", "PORTABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.archs, args.batches, args.worker[0], bool(args.worker[1]))
        return
    rows = []
    for name in SETTINGS:
        rows += run_setting(name, args.archs, args.batches)
        print(f"{name}: done", file=sys.stderr, flush=True)
    results = pd.DataFrame(rows)
    print(
        f"{results['data'].iloc[0]}, {args.batches} batches of 64 reviews per architecture, then {REVIEWS_SCORED} scored"
    )
    letters = {arch: {} for arch in args.archs}
    results["result"] = [
        letters[row.arch].setdefault(row.digest, "ABCDEFGHIJ"[len(letters[row.arch])]) for row in results.itertuples()
    ]
    print("\nresults (one letter per distinct result of an architecture; equal letters: bit-identical)\n")
    print(results.pivot(index="setting", columns="arch", values="result").loc[list(SETTINGS)].to_markdown())
    print("\nCPU seconds, training / scoring\n")
    results["seconds"] = results["train_cpu_s"].astype(str) + " / " + results["score_cpu_s"].astype(str)
    print(results.pivot(index="setting", columns="arch", values="seconds").loc[list(SETTINGS)].to_markdown())


if __name__ == "__main__":
    main()
