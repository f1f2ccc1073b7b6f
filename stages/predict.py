"""Classify reviews with a trained model.

    python -m stages.predict --arch lstm "A wonderful, moving film."
    python -m stages.predict --arch gru < reviews.txt        # one review per line

Prints, per review, the label and its probability (softmax of the model's outputs).
"""

import argparse
import sys

import torch

from stages.common import StageError, run_stage
from stages.data import VOCAB_FILE, encode, load_vocab, tokenize
from stages.params import ARCHS
from stages.train import file_sha256, load_model

LABEL_NAMES = ("negative", "positive")


def classify(texts: list[str], arch: str) -> list[tuple[str, float]]:
    """(label, probability of that label) for each text, with the trained `arch` model."""
    model, checkpoint = load_model(arch, torch.device("cpu"))
    if not VOCAB_FILE.exists() or checkpoint["vocab_sha256"] != file_sha256(VOCAB_FILE):
        raise StageError(
            f"{VOCAB_FILE} is missing or not the vocabulary models/{arch}.pt was trained with: run `dvc repro`"
        )
    token_ids = {token: index for index, token in enumerate(load_vocab())}
    encoded = [encode(tokenize(text), token_ids, checkpoint["seq_len"], checkpoint["truncate"]) for text in texts]
    width = checkpoint["seq_len"] if checkpoint["pooling"] == "mean" else max(max(map(len, encoded)), 1)
    ids = torch.zeros(len(texts), width, dtype=torch.long)
    for row, review in enumerate(encoded):
        ids[row, : len(review)] = torch.tensor(review, dtype=torch.long)
    lengths = torch.tensor([len(review) for review in encoded])
    with torch.inference_mode():
        probabilities = model(ids, lengths).softmax(dim=1)
    confidence, labels = probabilities.max(dim=1)
    return [(LABEL_NAMES[label], float(p)) for label, p in zip(labels.tolist(), confidence, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ARCHS, default="lstm")
    parser.add_argument("text", nargs="*", help="reviews to classify; none: read one per line from stdin")
    args = parser.parse_args()
    texts = args.text or [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        raise StageError("no review given: pass it as an argument or one per line on stdin")
    for text, (label, probability) in zip(texts, classify(texts, args.arch), strict=True):
        print(f"{label}\t{probability:.4f}\t{text[:80]}")


if __name__ == "__main__":
    run_stage(main)
