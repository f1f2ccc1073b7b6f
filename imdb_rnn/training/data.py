"""The encoded splits that `tokenize` writes, read back as batches of tensors for training and evaluation."""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from imdb_rnn.core.paths import PROCESSED_DIR, VOCAB_FILE, split_file
from imdb_rnn.core.text import PAD_ID, UNK_ID

SPLITS = ("train", "val", "test")


def padded_batch(encoded: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded reviews as (ids (B, width) right-padded with <pad>, lengths (B,))."""
    ids = torch.full((len(encoded), width), PAD_ID, dtype=torch.long)
    for row, review in enumerate(encoded):
        ids[row, : len(review)] = torch.tensor(review[:width], dtype=torch.long)
    return ids, torch.tensor([min(len(review), width) for review in encoded])


def load_vocab(path: Path = VOCAB_FILE) -> list[str]:
    """The vocabulary as a list: a token's id is its position."""
    return json.loads(path.read_text())


Split = dict[str, torch.Tensor]


def load_split(split: str, directory: Path = PROCESSED_DIR) -> Split:
    """One encoded split: `ids` (N, seq_len), `lengths` (N,) real tokens per row, `labels` (N,) 1 = positive."""
    return load_file(split_file(split, directory))


def narrow(split: Split, vocab_size: int, seq_len: int | None, truncate: str) -> Split:
    """`split` as tokenize encodes it with a smaller `vocab_size` or `seq_len`, from a split it encoded with larger ones.

    Exact, because tokenize's vocabulary at a smaller size is a prefix of the larger one (ranked by count, then
    alphabetically), and `truncate` keeps the head or the tail of what a row holds. The caller checks that the
    row holds every token, or was itself cut the same way (tools.search does).
    """
    ids, lengths = split["ids"], split["lengths"]
    ids = ids.masked_fill(ids >= vocab_size + 2, UNK_ID)  # + <pad> and <unk>
    if seq_len is not None and seq_len < ids.shape[1]:
        kept = lengths.clamp(max=seq_len)
        start = (lengths - kept) if truncate == "tail" else torch.zeros_like(lengths)
        steps = torch.arange(seq_len)
        ids = ids.gather(1, (start.unsqueeze(1) + steps).clamp(max=ids.shape[1] - 1))
        ids = ids.masked_fill(steps >= kept.unsqueeze(1), PAD_ID)
        lengths = kept
    return {**split, "ids": ids, "lengths": lengths}


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def trims_batches(pooling: str) -> bool:
    """Whether batches may be cut to their longest review under `pooling`.

    Trimming changes nothing when pooling ignores padding; `mean` pools over the padding too (as the
    report does), so its batches keep every position.
    """
    return pooling != "mean"


def evaluation_order(lengths: torch.Tensor) -> torch.Tensor:
    """The order in which evaluation batches hold a split's reviews: longest first, ties in split order."""
    return torch.argsort(lengths, descending=True, stable=True)


def batches(
    split: dict[str, torch.Tensor],
    batch_size: int,
    trim: bool,
    generator: torch.Generator | None = None,
    pool_batches: int = 50,
) -> list[Batch]:
    """Cut a split into (ids, lengths, labels) batches.

    With a `generator` (training) and `trim`, the reviews are shuffled, sorted by length within
    pools of `pool_batches` batches, each batch is cut to its longest review (padding is not
    computed), and the batches' order is shuffled: every epoch differs, but a batch holds reviews
    of about one length. With a `generator` and no `trim`, batches are plain random draws padded
    to the full `seq_len`, as the report's loop does. Without a generator (evaluation), reviews go
    in order of length, cut to each batch's longest review when `trim`.
    """
    ids, lengths, labels = split["ids"], split["lengths"], split["labels"]
    bucketed = generator is not None and trim
    if generator is None:
        order = evaluation_order(lengths)
    else:
        order = torch.randperm(len(lengths), generator=generator)
    if bucketed:
        pool = batch_size * pool_batches
        order = torch.cat(
            [chunk[torch.argsort(lengths[chunk], descending=True, stable=True)] for chunk in order.split(pool)]
        )
    chunks = list(order.split(batch_size))
    if bucketed:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]
    result = []
    for rows in chunks:
        width = max(int(lengths[rows].max()), 1) if trim else ids.shape[1]
        result.append((ids[rows, :width].long(), lengths[rows], labels[rows]))
    return result
