"""Epoch time and tokens per second of the project's training and evaluation, against a plain reference loop.

    python -m bench.speed                                   # every architecture, one epoch of 25,000 reviews
    python -m bench.speed --archs lstm lstm_manual --hidden 128 --batch-size 128
    python -m bench.speed --device cuda --json > speed.json
    python -m bench.speed --no-portable-numerics           # each library's fastest code, not the study's numerics

For every architecture it times, side by side in one run (bench/timing.py):

- project: the project's own code, `imdb_rnn.training.loops.train_epoch` on `imdb_rnn.training.data.batches` (reviews of
  similar length, each batch cut to its longest review) with a masked_mean `SentimentClassifier`,
  Adam (params.yaml's lr and weight_decay) and cross-entropy; evaluation is `imdb_rnn.training.loops.predict`
  (inference mode) on batches of EVAL_BATCH_SIZE, as stages/train.py does.
- reference: a plain loop like the report's (bench/reference.py): batches in random order at the full
  padded length, the report's model, the same optimizer and loss, evaluation under torch.no_grad in
  batches of the same size, and for the `*_manual` architectures the report's naive hand-written cells.

Every loop is warmed up (one batch; on a GPU the project's a whole epoch, for its CUDA graphs), then `--repeats` rounds each time every loop once, one after the
other, so that a drift of the machine lands on all alike; the median is reported with the range of
the repeats. Ratios (of the medians, with the range of the per-round ratios): manual / torch time of
the project's code, each hand-written layer against its twin (the goal: at most 1.0x on CPU, train
and eval, and 3x on GPU), and reference / project time per architecture (the speedup over the
report's loop).

Sizes, lr, weight decay, threads and numerics default to params.yaml's, so that it times what the study
trains: under `portable_numerics: true`, torch's nn.LSTM runs without oneDNN, as in the study's trainings.

Data (bench/reviews.py): the tokenized training split (data/processed/train.safetensors; its reviews
drawn in a seeded order, reused when --reviews asks for more) or, without it or with --synthetic,
random reviews whose lengths are log-normal around IMDB's median of 174 tokens.
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
from bench.timing import SEED, Setup, measure, ratios
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
    return {
        **environment.describe(device),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_report(report: dict) -> None:
    """The report as text: machine, setup, then markdown tables of the timings and ratios."""
    host, config = report["machine"], report["config"]
    gpu = f" ({host['gpu']})" if "gpu" in host else ""
    print(
        f"machine: {host['cpu']}, {host['cores']} cores, torch {host['torch']}, {host['threads']} threads, "
        f"MKL {host['mkl_branch']}, ATen {host['aten_capability']}, oneDNN {'on' if host['onednn'] else 'off'}, "
        f"device {host['device']}{gpu}, {host['date']}"
    )
    print(
        f"data: {config['data']}, {config['reviews']:,} reviews, {config['tokens']:,} real tokens per epoch "
        f"(padding excluded), seq_len {config['seq_len']}; batch {config['batch_size']}, hidden {config['hidden']}, "
        f"embed {config['embed_dim']}; median of {config['repeats']}\n"
    )
    results = pd.DataFrame(report["results"])
    for part in ("train", "eval"):
        results[f"{part}_range"] = results.pop(f"{part}_seconds_runs").map(lambda runs: spread(runs, ".3f"))
    columns = ["arch", "mode", "train_seconds", "train_range", "train_tokens_per_s", "eval_seconds", "eval_range"]
    print(
        results[[*columns, "eval_tokens_per_s"]].to_markdown(
            index=False, floatfmt=("", "", ".3f", "", ",.0f", ".3f", "", ",.0f")
        )
    )
    if report["manual_vs_torch"]:
        print("\nmanual / torch time, project code (goal: train and eval ratios at most the goal)\n")
        print(ratio_table(report["manual_vs_torch"]))
    print("\nreference / project time (speedup over the report's loop)\n")
    print(ratio_table(report["reference_vs_project"]))


def spread(values: list[float], fmt: str) -> str:
    """min-max of a measurement's repeats, e.g. "0.91-0.95"."""
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def ratio_table(rows: list[dict]) -> str:
    """Ratios as markdown, each with the range of its per-round values (the rounds of bench/timing.py)."""
    table = pd.DataFrame(rows)
    for part in ("train", "eval"):
        table[f"{part}_ratio_runs"] = table[f"{part}_ratio_runs"].map(lambda runs: spread(runs, ".2f"))
    table = table.rename(columns={"train_ratio_runs": "train_range", "eval_ratio_runs": "eval_range"})
    return table.to_markdown(index=False, floatfmt=".2f")


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
    parser.add_argument(
        "--archs",
        nargs="+",
        choices=architectures.NAMES,
        default=list(architectures.NAMES),
        metavar="ARCH",
        help=f"any of: {' '.join(architectures.NAMES)} (default: all)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument("--reviews", type=positive, default=25000, help="reviews per epoch (default: 25000)")
    parser.add_argument("--repeats", type=positive, default=3, help="timed epochs per arch and loop (default: 3)")
    for name in ("batch_size", "hidden", "embed_dim", "threads"):
        value = getattr(defaults, name)
        option = "--" + name.replace("_", "-")
        parser.add_argument(option, type=positive, default=value, help=f"params.yaml's {name} (default: {value})")
    parser.set_defaults(lr=defaults.lr, weight_decay=defaults.weight_decay, vocab_size=vocab_size)
    parser.add_argument(
        "--seq-len", type=positive, default=200, help="padded length of synthetic reviews (default: 200)"
    )
    parser.add_argument(
        "--portable-numerics",
        action=argparse.BooleanOptionalAction,
        default=defaults.portable_numerics,
        help="params.yaml's portable_numerics, as the study trains; --no-portable-numerics times each library's "
        f"fastest code for this CPU (default: {defaults.portable_numerics})",
    )
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
    manual_vs_torch, reference_vs_project = ratios(results, device)
    report = {
        "machine": machine(device),
        "config": {
            "data": source,
            "reviews": len(split["labels"]),
            "tokens": int(split["lengths"].sum()),
            "tokens_counted": "real tokens: the sum of the reviews' lengths, padding excluded, for both loops",
            "seq_len": split["ids"].shape[1],
            "vocab_size": vocab_size,
            "batch_size": args.batch_size,
            "eval_batch_size": {"project": EVAL_BATCH_SIZE, "reference": args.batch_size},
            "hidden": args.hidden,
            "embed_dim": args.embed_dim,
            "repeats": args.repeats,
            "statistic": "median; *_runs: every round's value, the rounds interleaving every loop",
            "seed": SEED,
        },
        "results": results,
        "manual_vs_torch": manual_vs_torch,
        "reference_vs_project": reference_vs_project,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


if __name__ == "__main__":
    run_stage(main)
