"""The training and evaluation loops that `train`, `evaluate`, `predict` and the benchmark share."""

import math

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm

from imdb_rnn.core.common import StageError
from imdb_rnn.training.data import Batch
from imdb_rnn.training.losses import LossFunction

# Reviews per evaluation batch. Not more: nn.LSTM's CPU kernel (oneDNN) projects the inputs of all T steps
# at once, (T, B, 4H) floats that leave the cache beyond a few hundred reviews (200 MB at 1,024, where it
# took 1.4x its time per token at 128); the hand-written layers, whose per-step ops cost the same at any
# batch size, want no fewer (docs/performance.md).
EVAL_BATCH_SIZE = 256


def resolve_device(name: str) -> torch.device:
    """params.yaml's `device`: auto (CUDA when present), cpu or cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StageError("device = 'cuda' but torch sees no CUDA GPU here; use device=auto or device=cpu")
    return torch.device(name)


def train_epoch(
    model: nn.Module,
    data: list[Batch],
    loss_fn: LossFunction,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    desc: str,
    scheduler: LRScheduler | None = None,
    max_grad_norm: float | None = None,
) -> tuple[float, float, int]:
    """One pass over `data`; returns mean loss, accuracy and the number of non-finite batch losses.

    A batch whose loss is not finite is counted and skipped (no optimizer step), so one bad
    batch is recorded without turning every weight into NaN. With `max_grad_norm`, the gradients are
    scaled down to that norm (over all weights) where they exceed it; `scheduler` steps after each step.
    """
    model.train()
    loss_sum, correct, seen, nonfinite = 0.0, 0, 0, 0
    progress = tqdm(data, desc=desc, unit="batch", leave=False, mininterval=1.0)
    for ids, lengths, labels in progress:
        ids, lengths, labels = ids.to(device), lengths.to(device), labels.to(device)
        logits = model(ids, lengths)
        loss = loss_fn(logits, labels)
        if not torch.isfinite(loss):
            nonfinite += 1
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(labels)
        correct += int((logits.argmax(dim=1) == labels).sum())
        seen += len(labels)
        progress.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
    if seen == 0:
        return math.nan, math.nan, nonfinite
    return loss_sum / seen, correct / seen, nonfinite


@torch.inference_mode()
def predict(model: nn.Module, data: list[Batch], device: torch.device) -> tuple[Tensor, Tensor]:
    """Logits and labels of every review in `data`, on the CPU."""
    model.eval()
    logits, labels = [], []
    for ids, lengths, batch_labels in data:
        logits.append(model(ids.to(device), lengths.to(device)).float().cpu())
        labels.append(batch_labels)
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: nn.Module, data: list[Batch], loss_fn: LossFunction, device: torch.device) -> tuple[float, float]:
    """Mean loss and accuracy of `model` on `data`."""
    logits, labels = predict(model, data, device)
    return float(loss_fn(logits, labels)), int((logits.argmax(dim=1) == labels).sum()) / len(labels)
