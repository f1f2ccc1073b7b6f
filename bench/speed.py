"""Epoch time and tokens per second of the project's training and evaluation, and each hand-written layer's over its
torch twin's (the goal: at most 1.0x on CPU, 3x on GPU, train and eval).

    python -m bench.speed [--archs lstm lstm_manual] [--reviews 3200] [--no-portable-numerics] [--device cuda] [--json]

Sizes, lr, weight decay, threads and numerics default to params.yaml's: it times what the study trains, on the
tokenized training split or (without it, or with --synthetic) random reviews. docs/performance.md gives the method.
"""

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch

from bench.reviews import load_reviews
from bench.timing import SEED, Setup, manual_vs_torch, measure
from imdb_rnn import architectures
from imdb_rnn.core.common import run_stage
from imdb_rnn.core.params import load_params
from imdb_rnn.core.paths import PARAMS_FILE
from imdb_rnn.training import environment
from imdb_rnn.training.loops import EVAL_BATCH_SIZE, resolve_device
from stages import tokenize, train

ROOT = Path(__file__).resolve().parent.parent


def machine(device: torch.device) -> dict:
    """What ran the benchmark: environment.describe's fields, the core count, Python and the date."""
    return environment.describe(device) | {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def host_line(host: dict) -> str:
    """Where a benchmark ran, in words: CPU, cores, torch, device (the GPU, CUDA, cuDNN), date."""
    gpu = f" ({host['gpu']}, CUDA {host['cuda']}, cuDNN {host['cudnn']})" if "gpu" in host else ""
    return f"{host['cpu']}, {host['cores']} cores, torch {host['torch']}, device {host['device']}{gpu}, {host['date']}"


def spread(values: list[float], fmt: str) -> str:
    """min-max of a measurement's rounds, e.g. "0.91-0.95"."""
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def render(report: dict) -> str:
    """The report as text: machine, setup, then markdown tables of the timings and of the ratios with their ranges."""
    config, host = report["config"], report["machine"]
    lines = [
        f"machine: {host_line(host)}; {host['threads']} threads, MKL {host['mkl_branch']}, "
        f"ATen {host['aten_capability']}, oneDNN {'on' if host['onednn'] else 'off'}",
        f"data: {config['data']}, {config['reviews']:,} reviews, {config['tokens']:,} real tokens per epoch "
        f"(padding excluded), seq_len {config['seq_len']}; batch {config['batch_size']}, hidden {config['hidden']}, "
        f"embed {config['embed_dim']}; median of {config['repeats']}\n",
    ]
    results = pd.DataFrame(report["results"])
    columns = ["arch", "train_seconds", "train_range", "train_tokens_per_s"]
    columns += ["eval_seconds", "eval_range", "eval_tokens_per_s"]
    for part in ("train", "eval"):
        results[f"{part}_range"] = results[f"{part}_seconds_runs"].map(lambda runs: spread(runs, ".3f"))
    lines.append(results[columns].to_markdown(index=False, floatfmt=("", ".3f", "", ",.0f", ".3f", "", ",.0f")))
    if report["manual_vs_torch"]:
        table = pd.DataFrame(report["manual_vs_torch"])
        for part in ("train", "eval"):
            table[f"{part}_ratio_runs"] = table[f"{part}_ratio_runs"].map(lambda runs: spread(runs, ".2f"))
        table = table.rename(columns={"train_ratio_runs": "train_range", "eval_ratio_runs": "eval_range"})
        title = "\nmanual / torch time (goal: train and eval ratios at most the goal)\n"
        lines += [title, table.to_markdown(index=False, floatfmt=".2f")]
    return "\n".join(lines)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; sizes, lr, weight_decay, threads and numerics default to params.yaml's, read when it starts."""
    path = ROOT / PARAMS_FILE
    defaults, vocab_size = load_params(train.Params, path), load_params(tokenize.Params, path).vocab_size
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.splitlines()[0])
    names = architectures.NAMES
    parser.add_argument("--archs", nargs="+", choices=names, default=list(names), help="default: all")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument("--reviews", type=positive, default=25000, help="reviews per epoch (default: 25000)")
    parser.add_argument("--repeats", type=positive, default=3, help="timed rounds (default: 3)")
    for name in ("batch_size", "hidden", "embed_dim", "threads"):
        value = getattr(defaults, name)
        option = "--" + name.replace("_", "-")
        parser.add_argument(option, type=positive, default=value, help=f"params.yaml's {name} (default: {value})")
    parser.set_defaults(lr=defaults.lr, weight_decay=defaults.weight_decay, vocab_size=vocab_size)
    parser.add_argument("--seq-len", type=positive, default=200, help="synthetic reviews' padded length (default: 200)")
    parser.set_defaults(portable_numerics=defaults.portable_numerics)
    numerics = f"params.yaml's (default: {defaults.portable_numerics}); --no-portable-numerics: each library's fastest"
    parser.add_argument("--portable-numerics", action=argparse.BooleanOptionalAction, help=numerics)
    parser.add_argument("--synthetic", action="store_true", help="random reviews even if the real split exists")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = resolve_device(args.device)
    environment.configure(args.threads, args.portable_numerics)
    split, vocab_size, source = load_reviews(ROOT, args.reviews, SEED, args.synthetic, args.seq_len, args.vocab_size)
    setup = Setup(args.embed_dim, args.hidden, args.batch_size, args.lr, args.weight_decay, device, args.repeats)
    results = measure(list(dict.fromkeys(args.archs)), split, vocab_size, setup)
    config = {"data": source, "reviews": len(split["labels"]), "tokens": int(split["lengths"].sum())}
    config["tokens_counted"] = "real tokens: the sum of the reviews' lengths, padding excluded"
    config |= {"seq_len": split["ids"].shape[1], "vocab_size": vocab_size, "batch_size": args.batch_size}
    config["eval_batch_size"] = EVAL_BATCH_SIZE
    config |= {"hidden": args.hidden, "embed_dim": args.embed_dim, "repeats": args.repeats, "seed": SEED}
    config["statistic"] = "median; *_runs: every round's value, the rounds interleaving every loop"
    report = {"machine": machine(device), "config": config, "results": results}
    report["manual_vs_torch"] = manual_vs_torch(results, device)
    print(json.dumps(report, indent=2) if args.json else render(report))


if __name__ == "__main__":
    run_stage(main)
