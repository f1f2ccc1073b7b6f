"""Classify reviews with a trained model file; nothing else needs to be present.

    python -m stages.predict --model models/lstm-0.pt "A wonderful, moving film."
    python -m stages.predict --model models/gru-0.pt < reviews.txt      # one review per line

Prints, per review, the label, the model's probability that the review is positive, and the review.
"""

import argparse
import sys
from pathlib import Path

import torch

from stages.checkpoint import Checkpoint, load_checkpoint
from stages.common import StageError, run_stage
from stages.data import encode, padded_batch, tokenize

LABEL_NAMES = ("negative", "positive")


def classify(texts: list[str], checkpoint: Checkpoint) -> list[tuple[str, float]]:
    """(label, probability that the review is positive) for each text."""
    token_ids = {token: index for index, token in enumerate(checkpoint.vocab)}
    encoded = [encode(tokenize(text), token_ids, checkpoint.seq_len, checkpoint.truncate) for text in texts]
    mean_over_padding = checkpoint.config.pooling == "mean"
    width = checkpoint.seq_len if mean_over_padding else max(max(map(len, encoded)), 1)
    ids, lengths = padded_batch(encoded, width)
    with torch.inference_mode():
        positive = checkpoint.model()(ids, lengths).softmax(dim=1)[:, 1]
    return [(LABEL_NAMES[int(p >= 0.5)], float(p)) for p in positive]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model file, e.g. models/lstm-0.pt")
    parser.add_argument("text", nargs="*", help="reviews to classify; none: read one per line from stdin")
    args = parser.parse_args()
    texts = args.text or [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        raise StageError("no review given: pass it as an argument or one per line on stdin")
    checkpoint = load_checkpoint(args.model)
    for text, (label, probability) in zip(texts, classify(texts, checkpoint), strict=True):
        print(f"{label}\t{probability:.4f}\t{text[:80]}")


if __name__ == "__main__":
    run_stage(main)
