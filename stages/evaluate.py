"""Stage `evaluate@<arch>`: score a trained model once on the official test split.

    python -m stages.evaluate lstm

Writes metrics/test/<arch>.json for the epoch with the best validation accuracy: test_acc,
test_loss, precision, recall and F1 of the positive class, and the confusion matrix; plus
final_test_acc, the accuracy of the last epoch (what the report quotes after 10 epochs).
"""

import argparse
import json
from pathlib import Path

from stages.common import StageError, atomic_output, run_stage
from stages.data import VOCAB_FILE, batches, load_split
from stages.params import ARCHS, load_params
from stages.train import EVAL_BATCH_SIZE, LOSS_FUNCTIONS, file_sha256, load_model, predict, resolve_device

TEST_METRICS_DIR = Path("metrics/test")


def scores(logits, labels, loss_fn) -> dict:
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
    parser.add_argument("arch", choices=ARCHS)
    arch = parser.parse_args().arch
    device = resolve_device(params.device)
    model, checkpoint = load_model(arch, device)
    if checkpoint["vocab_sha256"] != file_sha256(VOCAB_FILE):
        raise StageError(f"models/{arch}.pt was trained with another vocabulary: rerun `dvc repro train@{arch}`")
    test_batches = batches(load_split("test"), EVAL_BATCH_SIZE, trim=checkpoint["pooling"] != "mean")
    logits, labels = predict(model, test_batches, device)
    metrics = scores(logits, labels, LOSS_FUNCTIONS[params.loss])
    final_logits, _ = predict(load_model(arch, device, final=True)[0], test_batches, device)
    metrics["final_test_acc"] = round(float((final_logits.argmax(dim=1) == labels).double().mean()), 6)
    with atomic_output(TEST_METRICS_DIR / f"{arch}.json") as staged:
        staged.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{arch}: test acc {metrics['test_acc']:.4f}, loss {metrics['test_loss']:.4f}, F1 {metrics['f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
