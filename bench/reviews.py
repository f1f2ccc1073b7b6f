"""The reviews that bench.speed times on: the tokenized training split, or random reviews of IMDB-like lengths."""

import math
from pathlib import Path

import torch
from torch import Tensor

from imdb_rnn.core.paths import PROCESSED_DIR, VOCAB_FILE, split_file
from imdb_rnn.training.data import PAD_ID, load_split, load_vocab

MEDIAN_LENGTH, LENGTH_SIGMA, MIN_LENGTH = 174, 0.75, 10  # IMDB: median 174 tokens, mean about 230


def synthetic_split(reviews: int, seq_len: int, vocab_size: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Random reviews: log-normal lengths clipped to [MIN_LENGTH, seq_len], random ids, right-padded with 0."""
    lengths = torch.empty(reviews).log_normal_(math.log(MEDIAN_LENGTH), LENGTH_SIGMA, generator=generator)
    lengths = lengths.round().long().clamp(MIN_LENGTH, seq_len)
    ids = torch.randint(PAD_ID + 2, vocab_size, (reviews, seq_len), generator=generator, dtype=torch.int32)
    ids.masked_fill_(torch.arange(seq_len) >= lengths.unsqueeze(1), PAD_ID)
    return {"ids": ids, "lengths": lengths, "labels": torch.randint(0, 2, (reviews,), generator=generator)}


def load_reviews(
    root: Path, reviews: int, seed: int, synthetic: bool, seq_len: int, vocab_size: int
) -> tuple[dict[str, Tensor], int, str]:
    """`reviews` reviews to time on, the vocabulary size (with <pad> and <unk>), and where they come from: the training
    split under `root` in a seeded order, repeated if too short; without it, or if `synthetic`, random reviews."""
    generator = torch.Generator().manual_seed(seed)
    path = split_file("train", root / PROCESSED_DIR)
    if synthetic or not path.exists():
        vocab_size += 2  # the words plus <pad> and <unk>
        return synthetic_split(reviews, seq_len, vocab_size, generator), vocab_size, "synthetic"
    split = load_split("train", root / PROCESSED_DIR)
    available = len(split["labels"])
    rows = torch.randperm(available, generator=generator).repeat(math.ceil(reviews / available))[:reviews]
    vocab_size = len(load_vocab(root / VOCAB_FILE))
    return {key: tensor[rows] for key, tensor in split.items()}, vocab_size, str(path.relative_to(root))
