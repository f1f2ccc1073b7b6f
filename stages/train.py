"""Stage `train@<arch>`: train one classifier and keep the epoch with the best validation accuracy.

    python -m stages.train lstm

Logs per epoch, with dvclive, into metrics/train/<arch>/: train and validation loss and
accuracy and the epoch's wall time (plots/metrics/**.tsv, read by `dvc plots`), and a summary
(metrics.json, read by `dvc exp show`) with the best epoch, the training minutes and whether
the loss diverged. Saves to models/<arch>.pt the weights of the epoch with the best validation accuracy (the
model that `evaluate` and `predict` use) and those of the last epoch (the report's protocol).
"""

import argparse
import copy
import hashlib
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from dvclive import Live
from torch import Tensor, nn
from tqdm import tqdm

from stages.common import StageError, atomic_output, run_stage
from stages.data import VOCAB_FILE, Batch, batches, load_split, load_vocab
from stages.models import SentimentClassifier
from stages.params import ARCHS, Params, load_params

MODELS_DIR = Path("models")
TRAIN_METRICS_DIR = Path("metrics/train")
EVAL_BATCH_SIZE = 1024


def _nll_of_log_softmax(logits: Tensor, labels: Tensor) -> Tensor:
    return F.nll_loss(F.log_softmax(logits, dim=1), labels)


def _mse_of_probabilities(logits: Tensor, labels: Tensor) -> Tensor:
    return F.mse_loss(logits.softmax(dim=1), F.one_hot(labels, 2).to(logits.dtype))


# Every loss takes the classifier's raw outputs (logits). `nll` applies NLLLoss to them
# directly, as the report's failed run did: it rewards ever larger outputs and is unbounded
# below. The others are proper losses, never below 0.
LOSS_FUNCTIONS = {
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "nll_log_softmax": _nll_of_log_softmax,
    "multi_margin": F.multi_margin_loss,
    "mse": _mse_of_probabilities,
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StageError("device = 'cuda' but torch sees no CUDA GPU here; use device=auto or device=cpu")
    return torch.device(name)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_diverged(loss: float) -> bool:
    """A loss that is not finite, or below 0 (which no proper loss reaches), has diverged."""
    return not math.isfinite(loss) or loss < 0


def train_epoch(
    model: nn.Module, data: list[Batch], loss_fn, optimizer: torch.optim.Optimizer, device: torch.device, desc: str
) -> tuple[float, float, int]:
    """One pass over `data`; returns mean loss, accuracy and the number of non-finite batch losses.

    A batch whose loss is not finite is counted and skipped (no optimizer step), so one bad
    batch is recorded without turning every weight into NaN.
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
        optimizer.step()
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


def evaluate(model: nn.Module, data: list[Batch], loss_fn, device: torch.device) -> tuple[float, float]:
    """Mean loss and accuracy of `model` on `data`."""
    logits, labels = predict(model, data, device)
    return float(loss_fn(logits, labels)), int((logits.argmax(dim=1) == labels).sum()) / len(labels)


def build_model(arch: str, params: Params, vocab_size: int) -> SentimentClassifier:
    return SentimentClassifier(arch, vocab_size, params.embed_dim, params.hidden, params.pooling)


def train(arch: str, params: Params) -> dict:
    """Train `arch` with `params`; save the best epoch to models/<arch>.pt; return the summary."""
    torch.manual_seed(params.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(params.device)
    vocab = load_vocab()
    train_split, val_split = load_split("train"), load_split("val")
    # Trimming a batch to its longest review changes nothing when pooling ignores padding;
    # `mean` pools over padding too (as the report does), so it keeps every position.
    trim = params.trim_batches and params.pooling != "mean"
    val_batches = batches(val_split, EVAL_BATCH_SIZE, trim)
    model = build_model(arch, params, len(vocab)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    loss_fn = LOSS_FUNCTIONS[params.loss]
    shuffle = torch.Generator().manual_seed(params.seed)

    best = {"val_acc": -1.0}
    diverged, nonfinite_total, started = False, 0, time.perf_counter()
    with Live(str(TRAIN_METRICS_DIR / arch), dvcyaml=None, save_dvc_exp=False) as live:
        for epoch in range(1, params.epochs + 1):
            live.step = epoch
            epoch_start = time.perf_counter()
            train_batches = batches(train_split, params.batch_size, trim, generator=shuffle)
            desc = f"{arch} epoch {epoch}/{params.epochs}"
            train_loss, train_acc, nonfinite = train_epoch(model, train_batches, loss_fn, optimizer, device, desc)
            val_loss, val_acc = evaluate(model, val_batches, loss_fn, device)
            seconds = time.perf_counter() - epoch_start
            nonfinite_total += nonfinite
            diverged = diverged or nonfinite > 0 or is_diverged(train_loss)
            for name, value in {
                "train/loss": train_loss,
                "train/acc": train_acc,
                "val/loss": val_loss,
                "val/acc": val_acc,
                "epoch_seconds": seconds,
            }.items():
                live.log_metric(name, round(value, 6))
            print(
                f"{arch} epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
                f"val loss {val_loss:.4f} acc {val_acc:.4f} | {seconds:.1f} s"
            )
            if val_acc > best["val_acc"]:
                best = {"val_acc": val_acc, "epoch": epoch, "state_dict": copy.deepcopy(model.state_dict())}
            live.make_summary()
        summary = {
            "best_epoch": best["epoch"],
            "best_val_acc": best["val_acc"],
            "train_minutes": round((time.perf_counter() - started) / 60, 3),
            "diverged": diverged,
            "nonfinite_batches": nonfinite_total,
            "device": device.type,
        }
        live.summary.update(summary)
    if diverged:
        print(f"warning: {arch}'s training loss diverged with loss = {params.loss!r}; recorded as diverged: true")

    checkpoint = {
        "arch": arch,
        "vocab_size": len(vocab),
        "embed_dim": params.embed_dim,
        "hidden": params.hidden,
        "pooling": params.pooling,
        "seq_len": params.seq_len,
        "truncate": params.truncate,
        "vocab_sha256": file_sha256(VOCAB_FILE),
        "epoch": best["epoch"],
        "val_acc": best["val_acc"],
        "state_dict": {name: tensor.cpu() for name, tensor in best["state_dict"].items()},
        "final_state_dict": {name: tensor.cpu() for name, tensor in model.state_dict().items()},
    }
    with atomic_output(MODELS_DIR / f"{arch}.pt") as staged:
        torch.save(checkpoint, staged)
    return summary


def load_model(arch: str, device: torch.device, final: bool = False) -> tuple[SentimentClassifier, dict]:
    """The trained model of `arch` (in eval mode) and its checkpoint; a clear error if it is missing.

    The model is the epoch with the best validation accuracy, or with `final` the last epoch.
    """
    path = MODELS_DIR / f"{arch}.pt"
    if not path.exists():
        raise StageError(
            f"{path} not found: train it with `dvc repro train@{arch}` "
            f"(with '{arch}' in the archs param, e.g. dvc exp run -S 'archs=[{arch}]')"
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = SentimentClassifier(
        checkpoint["arch"],
        checkpoint["vocab_size"],
        checkpoint["embed_dim"],
        checkpoint["hidden"],
        checkpoint["pooling"],
    )
    model.load_state_dict(checkpoint["final_state_dict" if final else "state_dict"])
    return model.to(device).eval(), checkpoint


def main() -> None:
    params = load_params()  # first, so that a wrong -S value is reported by its key
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", choices=ARCHS)
    arch = parser.parse_args().arch
    summary = train(arch, params)
    print(
        f"{arch}: best val acc {summary['best_val_acc']:.4f} at epoch {summary['best_epoch']}, "
        f"{summary['train_minutes']:.1f} min"
    )


if __name__ == "__main__":
    run_stage(main)
