"""Classify reviews with a trained model file; nothing else needs to be present.

    python -m tools.predict --model models/lstm-0.pt "A wonderful, moving film."
    python -m tools.predict --model models/gru-0.pt < reviews.txt      # one review per line

Prints, per review, the label, the model's probability that the review is positive, and the review.
"""

import argparse
import sys
from pathlib import Path

import torch

from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.text import encode, tokenize
from imdb_rnn.training.checkpoint import Checkpoint, load_checkpoint
from imdb_rnn.training.data import padded_batch, trims_batches
from imdb_rnn.training.loops import EVAL_BATCH_SIZE

LABEL_NAMES = ("negative", "positive")


def classify(texts: list[str], checkpoint: Checkpoint) -> list[tuple[str, float]]:
    """(label, probability that the review is positive) for each text."""
    token_ids = {token: index for index, token in enumerate(checkpoint.vocab)}
    encoded = [encode(tokenize(text), token_ids, checkpoint.seq_len, checkpoint.truncate) for text in texts]
    model, trim = checkpoint.model(), trims_batches(checkpoint.config.pooling)
    positive = []
    for start in range(0, len(encoded), EVAL_BATCH_SIZE):  # in batches, as evaluation does
        chunk = encoded[start : start + EVAL_BATCH_SIZE]
        width = max(max(map(len, chunk)), 1) if trim or checkpoint.seq_len is None else checkpoint.seq_len
        with torch.inference_mode():
            positive += model(*padded_batch(chunk, width)).softmax(dim=1)[:, 1].tolist()
    return [(LABEL_NAMES[int(p >= 0.5)], p) for p in positive]


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
