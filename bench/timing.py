"""One training epoch and one evaluation pass of each architecture in the project's code, as stages/train.py runs them.

Every loop is built and warmed up first; then each of `repeats` rounds times every loop once, one after another, so
that a drift of the machine lands on all alike. An epoch's time includes making its batches, as stages/train.py's does.
"""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from imdb_rnn import architectures
from imdb_rnn.training.classifier import ModelConfig, SentimentClassifier
from imdb_rnn.training.data import batches
from imdb_rnn.training.loops import EVAL_BATCH_SIZE, predict, train_epoch

SEED = 0
GOALS = {"cpu": 1.0, "cuda": 3.0}  # the most a hand-written layer's epoch may take, in times its torch twin's


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


def project_model(arch: str, vocab_size: int, setup: Setup) -> tuple[SentimentClassifier, torch.optim.Optimizer]:
    """A project model from seed SEED (masked_mean pooling) on the device, and its Adam optimizer."""
    torch.manual_seed(SEED)
    config = ModelConfig(arch, vocab_size, setup.embed_dim, setup.hidden, pooling="masked_mean")
    model = SentimentClassifier(config).to(setup.device)
    return model, torch.optim.Adam(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)


def project_loops(arch: str, split: dict[str, Tensor], vocab_size: int, setup: Setup) -> Loops:
    """A project model trained (cross-entropy) and evaluated as stages/train.py does. Warmed up with one batch, on a
    GPU with a whole epoch and pass: the hand-written layers capture a CUDA graph per batch shape at its first use."""
    model, optimizer = project_model(arch, vocab_size, setup)
    order = torch.Generator().manual_seed(SEED)
    eval_batches = batches(split, EVAL_BATCH_SIZE, trim=True)

    def train(data: dict[str, Tensor] = split, generator: torch.Generator | None = order) -> object:
        batched = batches(data, setup.batch_size, trim=True, generator=generator)
        return train_epoch(model, batched, F.cross_entropy, optimizer, setup.device, arch)

    def evaluate(data: list = eval_batches) -> object:
        return predict(model, data, setup.device)

    whole = setup.device.type == "cuda"
    train(split if whole else {key: tensor[: setup.batch_size] for key, tensor in split.items()}, None)
    evaluate(eval_batches if whole else eval_batches[:1])
    return train, evaluate


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
def deterministic() -> Iterator[None]:
    """Deterministic algorithms on, warn only, as stages/train.py trains, inside the block; the previous setting after."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def measure(archs: list[str], split: dict[str, Tensor], vocab_size: int, setup: Setup) -> list[dict]:
    """Per arch: the median train-epoch and evaluation seconds, every round's, and real tokens per second."""
    runs: dict[str, dict[str, list[float]]] = {arch: {"train": [], "eval": []} for arch in archs}
    with deterministic():
        loops = {arch: project_loops(arch, split, vocab_size, setup) for arch in archs}
        for _ in range(setup.repeats):
            for arch, (train, evaluate) in loops.items():
                runs[arch]["train"].append(timed(train, setup.device))
                runs[arch]["eval"].append(timed(evaluate, setup.device))
    tokens = int(split["lengths"].sum())  # real tokens, padding excluded
    results = []
    for arch, seconds in runs.items():
        result = {"arch": arch}
        for part, values in seconds.items():
            median = statistics.median(values)
            result |= {f"{part}_seconds": median, f"{part}_tokens_per_s": tokens / median}
        results.append(result | {f"{part}_seconds_runs": values for part, values in seconds.items()})
    return results


def manual_vs_torch(results: list[dict], device: torch.device) -> list[dict]:
    """From measure's results: each hand-written layer's time over its torch twin's, where both were measured, train
    and eval, the ratio of the medians and each round's (its spread); the goal met when both are within it."""
    found = {result["arch"]: result for result in results}
    goal = GOALS[device.type]
    rows = []
    for manual, timings in found.items():
        twin = architectures.load(manual).twin
        if twin not in found:
            continue
        row = {"manual": manual, "torch": twin}
        for part in ("train", "eval"):
            row[f"{part}_ratio"] = timings[f"{part}_seconds"] / found[twin][f"{part}_seconds"]
            pairs = zip(timings[f"{part}_seconds_runs"], found[twin][f"{part}_seconds_runs"], strict=True)
            row[f"{part}_ratio_runs"] = [a / b for a, b in pairs]
        rows.append(row | {"goal": goal, "meets_goal": row["train_ratio"] <= goal and row["eval_ratio"] <= goal})
    return rows
