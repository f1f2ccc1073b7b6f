"""Stage `evaluate@<arch>-<seed>`: score one trained model once on the official test split.

    python -m stages.evaluate lstm 0

Writes metrics/test/<arch>-<seed>.json for the epoch with the best validation accuracy: test_acc,
test_loss, precision, recall and F1 of the positive class, and the confusion matrix; plus
final_test_acc, the accuracy of the last epoch (what the report quotes after 10 epochs).
"""

import argparse
import json

from torch import Tensor

from stages.checkpoint import load_checkpoint
from stages.common import StageError, atomic_output, run_stage
from stages.data import batches, load_split, load_vocab
from stages.loops import EVAL_BATCH_SIZE, predict, resolve_device
from stages.losses import LOSS_FUNCTIONS, LossFunction
from stages.models import ARCHITECTURES
from stages.params import load_params
from stages.paths import VOCAB_FILE, model_file, run_name, test_metrics_file


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
        "test_acc": round((tp + tn) / len(labels), 6),
        "test_loss": round(float(loss_fn(logits, labels)), 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "confusion": {"true_neg": {"pred_neg": tn, "pred_pos": fp}, "true_pos": {"pred_neg": fn, "pred_pos": tp}},
    }


def main() -> None:
    params = load_params()  # first, so that a wrong -S value is reported by its key
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", choices=ARCHITECTURES)
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    name, path = run_name(args.arch, args.seed), model_file(args.arch, args.seed)
    checkpoint = load_checkpoint(path)
    if checkpoint.vocab != load_vocab():
        raise StageError(
            f"{path} was trained with another vocabulary than {VOCAB_FILE}: rerun `dvc repro train@{name}`"
        )
    device = resolve_device(params.device)
    test_batches = batches(load_split("test"), EVAL_BATCH_SIZE, trim=checkpoint.config.pooling != "mean")
    logits, labels = predict(checkpoint.model().to(device), test_batches, device)
    metrics = scores(logits, labels, LOSS_FUNCTIONS[params.loss])
    final_logits, _ = predict(checkpoint.model(final=True).to(device), test_batches, device)
    metrics["final_test_acc"] = round(float((final_logits.argmax(dim=1) == labels).double().mean()), 6)
    with atomic_output(test_metrics_file(args.arch, args.seed)) as staged:
        staged.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{name}: test acc {metrics['test_acc']:.4f}, loss {metrics['test_loss']:.4f}, F1 {metrics['f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
