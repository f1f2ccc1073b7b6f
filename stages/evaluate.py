"""Stage `evaluate@<arch>-<seed>`: score one trained model once on the official test split.

    python -m stages.evaluate lstm 0

Writes metrics/test/<arch>-<seed>.json for the epoch with the best validation accuracy: test_acc,
test_loss, precision, recall and F1 of the positive class, and the confusion matrix; plus
final_test_acc, the accuracy of the last epoch (what the report quotes after 10 epochs), and where
it ran. Writes metrics/predictions/<arch>-<seed>.npz: for every test review, in the test split's
order, whether each of the two epochs' models classified it right (`best`, `last`; booleans), which
the statistics need for the test set's share of the uncertainty (docs/statistics.md).
"""

import argparse
import json
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from imdb_rnn import architectures
from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.epochs import BEST, LAST
from imdb_rnn.core.params import StageParams, check_choice, check_seed, load_params, one_of
from imdb_rnn.core.paths import VOCAB_FILE, model_file, predictions_file, run_name, test_metrics_file
from imdb_rnn.training import environment
from imdb_rnn.training.checkpoint import load_checkpoint
from imdb_rnn.training.data import batches, evaluation_order, load_split, load_vocab, trims_batches
from imdb_rnn.training.loops import EVAL_BATCH_SIZE, predict, resolve_device
from imdb_rnn.training.losses import LOSS_FUNCTIONS, LossFunction


class Params(StageParams):
    loss: Annotated[str, one_of(LOSS_FUNCTIONS)]
    device: Literal["auto", "cpu", "cuda"]
    threads: int = Field(gt=0)
    portable_numerics: bool


def scores(logits: Tensor, labels: Tensor, loss_fn: LossFunction) -> dict:
    predicted = logits.argmax(dim=1)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        BEST.key: round((tp + tn) / len(labels), 6),
        "test_loss": round(float(loss_fn(logits, labels)), 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "confusion": {"true_neg": {"pred_neg": tn, "pred_pos": fp}, "true_pos": {"pred_neg": fn, "pred_pos": tp}},
    }


def in_split_order(correct: Tensor, order: Tensor) -> np.ndarray:
    """Per-review results given in evaluation order (`order`), put back in the split's order."""
    restored = torch.empty_like(correct)
    restored[order] = correct
    return restored.numpy()


def main() -> None:
    params = load_params(Params)  # first, so that a wrong -S value is reported by its key
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch")
    parser.add_argument("seed")
    args = parser.parse_args()
    check_choice("archs", args.arch, architectures.NAMES)
    seed = check_seed(args.seed)
    environment.configure(params.threads, params.portable_numerics)
    name, path = run_name(args.arch, seed), model_file(args.arch, seed)
    checkpoint = load_checkpoint(path)
    if checkpoint.vocab != load_vocab():
        raise StageError(
            f"{path} was trained with another vocabulary than {VOCAB_FILE}: rerun `dvc repro train@{name}`"
        )
    device = resolve_device(params.device)
    test_split = load_split("test")
    test_batches = batches(test_split, EVAL_BATCH_SIZE, trim=trims_batches(checkpoint.config.pooling))
    logits, labels = predict(checkpoint.model().to(device), test_batches, device)
    metrics = scores(logits, labels, LOSS_FUNCTIONS[params.loss])
    final_logits, _ = predict(checkpoint.model(final=True).to(device), test_batches, device)
    correct = {BEST.review_key: logits.argmax(dim=1) == labels, LAST.review_key: final_logits.argmax(dim=1) == labels}
    metrics[LAST.key] = round(float(correct[LAST.review_key].double().mean()), 6)
    metrics |= environment.describe(device)
    order = evaluation_order(test_split["lengths"])
    with (
        atomic_output(test_metrics_file(args.arch, seed)) as metrics_path,
        atomic_output(predictions_file(args.arch, seed)) as predictions_path,
    ):
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
        with predictions_path.open("wb") as file:  # a file object: savez would add .npz to a path
            np.savez_compressed(file, **{epoch: in_split_order(right, order) for epoch, right in correct.items()})
    print(f"{name}: test acc {metrics['test_acc']:.4f}, loss {metrics['test_loss']:.4f}, F1 {metrics['f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
