"""Epoch time and tokens per second of the project's training and evaluation, against a plain reference loop.

    python bench/speed.py                                   # all six archs, one epoch of 25,000 reviews
    python bench/speed.py --archs lstm lstm_manual --hidden 128 --batch-size 128
    python bench/speed.py --device cuda --json > speed.json

For every architecture it times, side by side in one run:

- project: the project's own code, `imdb_rnn.loops.train_epoch` on `imdb_rnn.data.batches` (reviews of
  similar length, each batch cut to its longest review) with a masked_mean `SentimentClassifier`,
  Adam (params.yaml's lr and weight_decay) and cross-entropy; evaluation is `imdb_rnn.loops.predict` (inference mode) on batches of
  EVAL_BATCH_SIZE, as `stages/train.py` does.
- reference: a plain loop like the report's: batches in random order at the full padded length,
  a batch-first `Embedding -> recurrent -> mean over time -> Linear -> ReLU -> Dropout -> Linear`,
  the same optimizer and loss, evaluation under torch.no_grad in batches of the same size. For
  the `*_manual` archs the recurrent layer is the report's naive hand-written cell: a Python loop
  over time steps, one nn.Linear per gate on torch.cat([h, x_t]), autograd doing the backward. An
  architecture the report did not have runs its registered layer (imdb_rnn/classifier.py) in this loop.

Each epoch (and each evaluation pass) runs `--repeats` times after a one-batch warm-up; the
median is reported. An epoch's time includes making its batches, as stages/train.py's
epoch_seconds does; the project's loop runs with deterministic algorithms on, as stages/train.py
sets them, the reference loop with them off. Tokens are real tokens (the sum of the reviews' lengths, padding excluded),
counted the same for both loops. Ratios: manual / torch time of the project's code, each
hand-written layer against its registered `twin` (the goal:
at most 1.25x on CPU, 3x on GPU), and reference / project time per arch (the speedup over the
report's loop).

Data: the tokenized training split (data/processed/train.safetensors; its reviews drawn in a
seeded order, reused when --reviews asks for more) or, without it or with --synthetic, random
reviews whose lengths are log-normal around IMDB's median of 174 tokens.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imdb_rnn import architectures
from imdb_rnn.classifier import ModelConfig, SentimentClassifier
from imdb_rnn.common import run_stage
from imdb_rnn.data import PAD_ID, batches, load_split, load_vocab
from imdb_rnn.loops import EVAL_BATCH_SIZE, predict, resolve_device, train_epoch
from imdb_rnn.params import load_params
from imdb_rnn.paths import PARAMS_FILE, PROCESSED_DIR, VOCAB_FILE, split_file
from stages import tokenize, train

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
MEDIAN_LENGTH, LENGTH_SIGMA, MIN_LENGTH = 174, 0.75, 10  # IMDB: median 174 tokens, mean about 230
GOALS = {"cpu": 1.25, "cuda": 3.0}  # the most a manual layer's epoch may take, in times its torch twin's


class NaiveRNN(nn.Module):
    """The report's hand-written RNN: h_t = tanh(W [h_{t-1}, x_t] + b), a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(hidden_size + input_size, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            h = torch.tanh(self.linear(torch.cat([h, x[:, t]], dim=1)))
            states.append(h)
        return torch.stack(states, dim=1)


class NaiveLSTM(nn.Module):
    """The report's hand-written LSTM: one nn.Linear per gate on [h_{t-1}, x_t], a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.forget, self.input, self.candidate, self.output = (
            nn.Linear(hidden_size + input_size, hidden_size) for _ in range(4)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            hx = torch.cat([h, x[:, t]], dim=1)
            f = torch.sigmoid(self.forget(hx))
            i = torch.sigmoid(self.input(hx))
            candidate = torch.tanh(self.candidate(hx))
            o = torch.sigmoid(self.output(hx))
            c = f * c + i * candidate
            h = o * torch.tanh(c)
            states.append(h)
        return torch.stack(states, dim=1)


class NaiveGRU(nn.Module):
    """The report's hand-written GRU (reset before the product), one nn.Linear per gate, a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.update, self.reset, self.candidate = (nn.Linear(hidden_size + input_size, hidden_size) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            x_t = x[:, t]
            hx = torch.cat([h, x_t], dim=1)
            z = torch.sigmoid(self.update(hx))
            r = torch.sigmoid(self.reset(hx))
            candidate = torch.tanh(self.candidate(torch.cat([r * h, x_t], dim=1)))
            h = z * h + (1 - z) * candidate
            states.append(h)
        return torch.stack(states, dim=1)


class BatchFirst(nn.Module):
    """A torch recurrent layer built batch first, returning only its outputs (B, T, hidden_size)."""

    def __init__(self, layer: nn.RNNBase) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)[0]


class TimeMajor(nn.Module):
    """The project's registered layer of an architecture that the report did not write, run batch first."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x.transpose(0, 1)).transpose(0, 1)


# The report's own layers; an architecture it did not have runs the registry's layer in the report's loop.
REFERENCE_LAYERS: dict[str, Callable[[int, int], nn.Module]] = {
    "rnn": lambda embed_dim, hidden: BatchFirst(nn.RNN(embed_dim, hidden, batch_first=True)),
    "lstm": lambda embed_dim, hidden: BatchFirst(nn.LSTM(embed_dim, hidden, batch_first=True)),
    "gru": lambda embed_dim, hidden: BatchFirst(nn.GRU(embed_dim, hidden, batch_first=True)),
    "rnn_manual": NaiveRNN,
    "lstm_manual": NaiveLSTM,
    "gru_manual": NaiveGRU,
}


def reference_layer(arch: str, embed_dim: int, hidden: int) -> nn.Module:
    if arch in REFERENCE_LAYERS:
        return REFERENCE_LAYERS[arch](embed_dim, hidden)
    return TimeMajor(architectures.load(arch).layer(embed_dim, hidden))


class ReferenceClassifier(nn.Module):
    """The report's model: Embedding -> recurrent -> mean over all T steps -> Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, arch: str, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.recurrent = reference_layer(arch, embed_dim, hidden)
        self.linear1 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.5)
        self.linear2 = nn.Linear(hidden, 2)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, T) -> logits (B, 2)."""
        states = self.recurrent(self.embedding(ids)).mean(dim=1)
        return self.linear2(self.dropout(F.relu(self.linear1(states))))


def reference_train_epoch(
    model: nn.Module,
    split: dict[str, Tensor],
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    generator: torch.Generator,
) -> float:
    """One epoch of the report's loop, random-order batches at full length; returns the mean loss."""
    model.train()
    ids, labels = split["ids"], split["labels"]
    loss_sum = 0.0
    for rows in torch.randperm(len(labels), generator=generator).split(batch_size):
        loss = F.cross_entropy(model(ids[rows].long().to(device)), labels[rows].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(rows)
    return loss_sum / len(labels)


@torch.no_grad()
def reference_accuracy(model: nn.Module, data: list[tuple[Tensor, Tensor]], device: torch.device) -> float:
    """The report's test loop: accuracy over (ids, labels) batches, under torch.no_grad."""
    model.eval()
    correct, seen = 0, 0
    for ids, labels in data:
        correct += int((model(ids.to(device)).argmax(dim=1) == labels.to(device)).sum())
        seen += len(labels)
    return correct / seen


Loops = tuple[Callable[[], object], Callable[[], object]]


def project_loops(arch: str, split: dict[str, Tensor], vocab_size: int, args: argparse.Namespace) -> Loops:
    """A fresh project model, warmed up; returns (one training epoch, one evaluation pass) on it."""
    torch.manual_seed(SEED)
    config = ModelConfig(arch, vocab_size, args.embed_dim, args.hidden, pooling="masked_mean")
    model = SentimentClassifier(config).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    order = torch.Generator().manual_seed(SEED)
    eval_batches = batches(split, EVAL_BATCH_SIZE, trim=True)

    def train() -> object:
        data = batches(split, args.batch_size, trim=True, generator=order)
        return train_epoch(model, data, F.cross_entropy, optimizer, args.device, arch)

    def evaluate() -> object:
        return predict(model, eval_batches, args.device)

    first = {key: tensor[: args.batch_size] for key, tensor in split.items()}
    train_epoch(model, batches(first, args.batch_size, trim=True), F.cross_entropy, optimizer, args.device, arch)
    predict(model, eval_batches[:1], args.device)
    return train, evaluate


def reference_loops(arch: str, split: dict[str, Tensor], vocab_size: int, args: argparse.Namespace) -> Loops:
    """A fresh reference model, warmed up; returns (one training epoch, one evaluation pass) on it."""
    torch.manual_seed(SEED)
    model = ReferenceClassifier(arch, vocab_size, args.embed_dim, args.hidden).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    order = torch.Generator().manual_seed(SEED)
    eval_batches = list(
        zip(split["ids"].long().split(args.batch_size), split["labels"].split(args.batch_size), strict=True)
    )

    def train() -> object:
        return reference_train_epoch(model, split, args.batch_size, optimizer, args.device, order)

    def evaluate() -> object:
        return reference_accuracy(model, eval_batches, args.device)

    first = {key: tensor[: args.batch_size] for key, tensor in split.items()}
    reference_train_epoch(model, first, args.batch_size, optimizer, args.device, order)
    reference_accuracy(model, eval_batches[:1], args.device)
    return train, evaluate


LOOPS = {"project": project_loops, "reference": reference_loops}


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of run(), with the GPU's queued work finished before each clock reading."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(arch: str, mode: str, split: dict[str, Tensor], vocab_size: int, args: argparse.Namespace) -> dict:
    """Median train-epoch and evaluation time and tokens/s of one arch in one mode (project or reference)."""
    # stages/train.py trains with deterministic algorithms on; the report's loop had them off.
    torch.use_deterministic_algorithms(mode == "project", warn_only=True)
    train, evaluate = LOOPS[mode](arch, split, vocab_size, args)
    train_runs, eval_runs = [], []
    for _ in range(args.repeats):
        train_runs.append(timed(train, args.device))
        eval_runs.append(timed(evaluate, args.device))
    tokens = int(split["lengths"].sum())
    train_seconds, eval_seconds = statistics.median(train_runs), statistics.median(eval_runs)
    return {
        "arch": arch,
        "mode": mode,
        "train_seconds": train_seconds,
        "train_tokens_per_s": tokens / train_seconds,
        "eval_seconds": eval_seconds,
        "eval_tokens_per_s": tokens / eval_seconds,
        "train_seconds_runs": train_runs,
        "eval_seconds_runs": eval_runs,
    }


def synthetic_split(reviews: int, seq_len: int, vocab_size: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Random reviews: log-normal lengths clipped to [MIN_LENGTH, seq_len], random ids, right-padded with 0."""
    lengths = torch.empty(reviews).log_normal_(math.log(MEDIAN_LENGTH), LENGTH_SIGMA, generator=generator)
    lengths = lengths.round().long().clamp(MIN_LENGTH, seq_len)
    ids = torch.randint(PAD_ID + 2, vocab_size, (reviews, seq_len), generator=generator, dtype=torch.int32)
    ids.masked_fill_(torch.arange(seq_len) >= lengths.unsqueeze(1), PAD_ID)
    return {"ids": ids, "lengths": lengths, "labels": torch.randint(0, 2, (reviews,), generator=generator)}


def load_reviews(args: argparse.Namespace) -> tuple[dict[str, Tensor], int, str]:
    """The reviews to time on, the vocabulary size, and where they come from."""
    generator = torch.Generator().manual_seed(SEED)
    path = split_file("train", ROOT / PROCESSED_DIR)
    if args.synthetic or not path.exists():
        vocab_size = args.vocab_size + 2  # the words plus <pad> and <unk>
        return synthetic_split(args.reviews, args.seq_len, vocab_size, generator), vocab_size, "synthetic"
    split = load_split("train", ROOT / PROCESSED_DIR)
    available = len(split["labels"])
    rows = torch.randperm(available, generator=generator).repeat(math.ceil(args.reviews / available))[: args.reviews]
    vocab_size = len(load_vocab(ROOT / VOCAB_FILE))
    return {key: tensor[rows] for key, tensor in split.items()}, vocab_size, str(path.relative_to(ROOT))


def ratios(results: list[dict], device: torch.device) -> tuple[list[dict], list[dict]]:
    """(manual / torch time of the project's code, with the goal; reference / project time per arch)."""
    found = {(result["arch"], result["mode"]): result for result in results}
    goal = GOALS[device.type]
    manual_vs_torch = []
    twins = {arch: twin for arch in architectures.NAMES if (twin := architectures.load(arch).twin)}
    for manual, twin in twins.items():
        if (manual, "project") in found and (twin, "project") in found:
            slow, fast = found[manual, "project"], found[twin, "project"]
            train_ratio = slow["train_seconds"] / fast["train_seconds"]
            manual_vs_torch.append(
                {
                    "manual": manual,
                    "torch": twin,
                    "train_ratio": train_ratio,
                    "eval_ratio": slow["eval_seconds"] / fast["eval_seconds"],
                    "goal": goal,
                    "meets_goal": train_ratio <= goal,
                }
            )
    reference_vs_project = [
        {
            "arch": arch,
            "train_ratio": found[arch, "reference"]["train_seconds"] / found[arch, "project"]["train_seconds"],
            "eval_ratio": found[arch, "reference"]["eval_seconds"] / found[arch, "project"]["eval_seconds"],
        }
        for arch, mode in found
        if mode == "project"
    ]
    return manual_vs_torch, reference_vs_project


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What ran the benchmark."""
    cpu = cpu_model()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_report(report: dict) -> None:
    """The report as text: machine, setup, then markdown tables of the timings and ratios."""
    host, config = report["machine"], report["config"]
    print(
        f"machine: {host['cpu']}, {host['cores']} cores, torch {host['torch']}, {host['threads']} threads, "
        f"device {host['device']} ({host['device_name']}), {host['date']}"
    )
    print(
        f"data: {config['data']}, {config['reviews']:,} reviews, {config['tokens']:,} real tokens per epoch "
        f"(padding excluded), seq_len {config['seq_len']}; batch {config['batch_size']}, hidden {config['hidden']}, "
        f"embed {config['embed_dim']}; median of {config['repeats']}\n"
    )
    results = pd.DataFrame(report["results"]).drop(columns=["train_seconds_runs", "eval_seconds_runs"])
    print(results.to_markdown(index=False, floatfmt=("", "", ".3f", ",.0f", ".3f", ",.0f")))
    if report["manual_vs_torch"]:
        print("\nmanual / torch epoch time, project code (goal: train ratio at most the goal)\n")
        print(pd.DataFrame(report["manual_vs_torch"]).to_markdown(index=False, floatfmt=".2f"))
    print("\nreference / project time (speedup over the report's loop)\n")
    print(pd.DataFrame(report["reference_vs_project"]).to_markdown(index=False, floatfmt=".2f"))


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; sizes, lr and weight_decay default to params.yaml's, read when the benchmark starts."""
    path = ROOT / PARAMS_FILE
    defaults, vocab_size = load_params(train.Params, path), load_params(tokenize.Params, path).vocab_size
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archs",
        nargs="+",
        choices=architectures.NAMES,
        default=list(architectures.NAMES),
        metavar="ARCH",
        help=f"default: {' '.join(architectures.NAMES)}",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument("--reviews", type=positive, default=25000, help="reviews per epoch (default: 25000)")
    parser.add_argument("--repeats", type=positive, default=3, help="timed epochs per arch and loop (default: 3)")
    for option, name in (("--batch-size", "batch_size"), ("--hidden", "hidden"), ("--embed-dim", "embed_dim")):
        value = getattr(defaults, name)
        parser.add_argument(option, type=positive, default=value, help=f"params.yaml's {name} (default: {value})")
    parser.set_defaults(lr=defaults.lr, weight_decay=defaults.weight_decay, vocab_size=vocab_size)
    parser.add_argument(
        "--seq-len", type=positive, default=200, help="padded length of synthetic reviews (default: 200)"
    )
    parser.add_argument("--threads", type=positive, help="torch CPU threads (default: torch's)")
    parser.add_argument("--synthetic", action="store_true", help="random reviews even if the real split exists")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    args.device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    split, vocab_size, source = load_reviews(args)
    results = [measure(arch, mode, split, vocab_size, args) for arch in dict.fromkeys(args.archs) for mode in LOOPS]
    manual_vs_torch, reference_vs_project = ratios(results, args.device)
    report = {
        "machine": machine(args.device),
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
            "statistic": "median",
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
