"""Timing one training epoch and one evaluation pass of an architecture, in the project's code or the report's loop.

Every loop is built and warmed up first (one batch; on a GPU the project's loops a whole epoch and pass, so
that every batch shape's CUDA graph is captured before the clock runs); then `repeats` rounds each time every loop once,
one after another (project and reference, hand-written layer and twin, side by side in every round), so
that a drift of the machine lands on all of them alike. The median is kept, with every run's time, and
the ratios come with the spread of their per-round values. An epoch's time includes making its batches, as stages/train.py's epoch_seconds does. The
project's loop runs with deterministic algorithms on, as stages/train.py sets them, the reference loop
with them off. Tokens are real tokens (the sum of the reviews' lengths, padding excluded), counted
the same for both loops.
"""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.reference import ReferenceClassifier, reference_accuracy, reference_train_epoch
from imdb_rnn import architectures
from imdb_rnn.training.classifier import ModelConfig, SentimentClassifier
from imdb_rnn.training.data import batches
from imdb_rnn.training.loops import EVAL_BATCH_SIZE, predict, train_epoch

SEED = 0
GOALS = {"cpu": 1.0, "cuda": 3.0}  # the most a manual layer's epoch may take, in times its torch twin's (issue 20)


@dataclass(frozen=True)
class Setup:
    """What every timed model shares: its sizes, the optimizer, the device, and how many timed repeats."""

    embed_dim: int
    hidden: int
    batch_size: int
    lr: float
    weight_decay: float
    device: torch.device
    repeats: int


Loops = tuple[Callable[[], object], Callable[[], object]]  # (one training epoch, one evaluation pass)


def project_loops(arch: str, split: dict[str, Tensor], vocab_size: int, setup: Setup) -> Loops:
    """A fresh project model (masked_mean pooling, Adam, cross-entropy), warmed up; its training and evaluation.

    Training is `imdb_rnn.training.loops.train_epoch` on `imdb_rnn.training.data.batches` (reviews of similar length, each
    batch cut to its longest review); evaluation is `imdb_rnn.training.loops.predict` on batches of
    EVAL_BATCH_SIZE, as stages/train.py does.
    """
    torch.manual_seed(SEED)
    config = ModelConfig(arch, vocab_size, setup.embed_dim, setup.hidden, pooling="masked_mean")
    model = SentimentClassifier(config).to(setup.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
    order = torch.Generator().manual_seed(SEED)
    eval_batches = batches(split, EVAL_BATCH_SIZE, trim=True)

    def train() -> object:
        data = batches(split, setup.batch_size, trim=True, generator=order)
        return train_epoch(model, data, F.cross_entropy, optimizer, setup.device, arch)

    def evaluate() -> object:
        return predict(model, eval_batches, setup.device)

    # On a GPU a whole epoch and pass: the hand-written layers capture one CUDA graph per batch shape at
    # its first use (imdb_rnn/training/bptt.py), which one batch would leave to the timed rounds.
    whole = setup.device.type == "cuda"
    warm_up = split if whole else {key: tensor[: setup.batch_size] for key, tensor in split.items()}
    train_epoch(model, batches(warm_up, setup.batch_size, trim=True), F.cross_entropy, optimizer, setup.device, arch)
    predict(model, eval_batches if whole else eval_batches[:1], setup.device)
    return train, evaluate


def reference_loops(arch: str, split: dict[str, Tensor], vocab_size: int, setup: Setup) -> Loops:
    """A fresh model of the report's (bench/reference.py), warmed up; its training and evaluation."""
    torch.manual_seed(SEED)
    model = ReferenceClassifier(arch, vocab_size, setup.embed_dim, setup.hidden).to(setup.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
    order = torch.Generator().manual_seed(SEED)
    eval_batches = list(
        zip(split["ids"].long().split(setup.batch_size), split["labels"].split(setup.batch_size), strict=True)
    )

    def train() -> object:
        return reference_train_epoch(model, split, setup.batch_size, optimizer, setup.device, order)

    def evaluate() -> object:
        return reference_accuracy(model, eval_batches, setup.device)

    first = {key: tensor[: setup.batch_size] for key, tensor in split.items()}
    reference_train_epoch(model, first, setup.batch_size, optimizer, setup.device, order)
    reference_accuracy(model, eval_batches[:1], setup.device)
    return train, evaluate


LOOPS: dict[str, Callable[[str, dict[str, Tensor], int, Setup], Loops]] = {
    "project": project_loops,
    "reference": reference_loops,
}


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of run(), with the GPU's queued work finished before each clock reading."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


@contextmanager
def deterministic(on: bool) -> Iterator[None]:
    """Deterministic algorithms on or off (warn only) inside the block, the previous setting restored after."""
    before, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(on, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def measure(archs: list[str], split: dict[str, Tensor], vocab_size: int, setup: Setup) -> list[dict]:
    """Train-epoch and evaluation times and tokens/s of every arch in every mode (a key of LOOPS), interleaved.

    stages/train.py trains with deterministic algorithms on, so the project's loops run so; the report's
    loop had them off.
    """
    loops = {}
    for arch in archs:
        for mode, build in LOOPS.items():
            with deterministic(mode == "project"):
                loops[arch, mode] = build(arch, split, vocab_size, setup)
    runs: dict[tuple[str, str], tuple[list[float], list[float]]] = {key: ([], []) for key in loops}
    for _ in range(setup.repeats):
        for (arch, mode), (train, evaluate) in loops.items():
            with deterministic(mode == "project"):
                runs[arch, mode][0].append(timed(train, setup.device))
                runs[arch, mode][1].append(timed(evaluate, setup.device))
    tokens = int(split["lengths"].sum())
    results = []
    for (arch, mode), (train_runs, eval_runs) in runs.items():
        train_seconds, eval_seconds = statistics.median(train_runs), statistics.median(eval_runs)
        results.append(
            {
                "arch": arch,
                "mode": mode,
                "train_seconds": train_seconds,
                "train_tokens_per_s": tokens / train_seconds,
                "eval_seconds": eval_seconds,
                "eval_tokens_per_s": tokens / eval_seconds,
                "train_seconds_runs": train_runs,
                "eval_seconds_runs": eval_runs,
            }
        )
    return results


def compare(slow: dict, fast: dict) -> dict:
    """slow / fast time, train and eval: the ratio of the medians, and the ratio in each round (its spread)."""
    compared = {}
    for part in ("train", "eval"):
        compared[f"{part}_ratio"] = slow[f"{part}_seconds"] / fast[f"{part}_seconds"]
        runs = zip(slow[f"{part}_seconds_runs"], fast[f"{part}_seconds_runs"], strict=True)
        compared[f"{part}_ratio_runs"] = [a / b for a, b in runs]
    return compared


def ratios(results: list[dict], device: torch.device) -> tuple[list[dict], list[dict]]:
    """From measure's results: (manual / torch time of the project's code, with the goal; reference / project time).

    A hand-written layer is compared with its twin (the torch layer it must match) when both were
    measured, and meets the goal when it trains and evaluates within it; reference / project is the
    speedup of the project's code over the report's loop.
    """
    found = {(result["arch"], result["mode"]): result for result in results}
    archs = dict.fromkeys(result["arch"] for result in results)
    goal = GOALS[device.type]
    manual_vs_torch = []
    for manual in archs:
        twin = architectures.load(manual).twin
        if twin is None or (manual, "project") not in found or (twin, "project") not in found:
            continue
        compared = compare(found[manual, "project"], found[twin, "project"])
        meets_goal = compared["train_ratio"] <= goal and compared["eval_ratio"] <= goal
        manual_vs_torch.append({"manual": manual, "torch": twin, **compared, "goal": goal, "meets_goal": meets_goal})
    reference_vs_project = [
        {"arch": arch, **compare(found[arch, "reference"], found[arch, "project"])}
        for arch in archs
        if (arch, "project") in found and (arch, "reference") in found
    ]
    return manual_vs_torch, reference_vs_project
