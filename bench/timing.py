"""One training epoch and one evaluation pass of each architecture, timed in the project's code and the report's loop.

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

from bench.reference import ReferenceClassifier
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


def reference_loops(arch: str, split: dict[str, Tensor], vocab_size: int, setup: Setup) -> Loops:
    """The report's model (bench/reference.py) and loops, warmed up with one batch: an epoch of random batches at the
    full padded length, each loss read back; then accuracy under no_grad, in batches of the same size."""
    torch.manual_seed(SEED)
    model = ReferenceClassifier(arch, vocab_size, setup.embed_dim, setup.hidden).to(setup.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
    order = torch.Generator().manual_seed(SEED)
    ids, labels = split["ids"], split["labels"]
    eval_batches = list(zip(ids.long().split(setup.batch_size), labels.split(setup.batch_size), strict=True))

    def train(reviews: int = len(labels)) -> float:
        model.train()
        loss_sum = 0.0
        for rows in torch.randperm(reviews, generator=order).split(setup.batch_size):
            loss = F.cross_entropy(model(ids[rows].long().to(setup.device)), labels[rows].to(setup.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(rows)
        return loss_sum / reviews

    @torch.no_grad()
    def evaluate(data: list = eval_batches) -> float:
        model.eval()
        correct = sum(int((model(x.to(setup.device)).argmax(dim=1) == y.to(setup.device)).sum()) for x, y in data)
        return correct / sum(len(y) for _, y in data)

    train(setup.batch_size)
    evaluate(eval_batches[:1])
    return train, evaluate


LOOPS: dict[str, Callable[..., Loops]] = {"project": project_loops, "reference": reference_loops}  # by mode


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
    """Deterministic algorithms on (as stages/train.py trains) or off (as the report's loop ran) inside the block."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(on, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def measure(archs: list[str], split: dict[str, Tensor], vocab_size: int, setup: Setup) -> list[dict]:
    """Per arch and mode (a key of LOOPS): the median train-epoch and evaluation seconds, every round's, tokens/s."""
    loops = {}
    for arch in archs:
        for mode, build in LOOPS.items():
            with deterministic(mode == "project"):
                loops[arch, mode] = build(arch, split, vocab_size, setup)
    runs: dict[tuple[str, str], dict[str, list[float]]] = {key: {"train": [], "eval": []} for key in loops}
    for _ in range(setup.repeats):
        for (arch, mode), (train, evaluate) in loops.items():
            with deterministic(mode == "project"):
                runs[arch, mode]["train"].append(timed(train, setup.device))
                runs[arch, mode]["eval"].append(timed(evaluate, setup.device))
    tokens = int(split["lengths"].sum())  # real tokens, padding excluded: the same count for every loop
    results = []
    for (arch, mode), seconds in runs.items():
        result = {"arch": arch, "mode": mode}
        for part, values in seconds.items():
            median = statistics.median(values)
            result |= {f"{part}_seconds": median, f"{part}_tokens_per_s": tokens / median}
        results.append(result | {f"{part}_seconds_runs": values for part, values in seconds.items()})
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
    """From measure's results: manual / torch time of the project's code where both were measured, meeting the goal
    when train and eval are within it; and reference / project time, the speedup over the report's loop."""
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
