"""Stage `tokenize`: the labelled reviews of the archive -> vocabulary and encoded splits.

Reads `aclImdb/{train,test}/{pos,neg}/*.txt` straight from the gzip tar (nothing is
extracted), builds the vocabulary from the training reviews only, holds out a
stratified validation split, and writes to data/processed/:
  {train,val,test}.safetensors  ids (N, width) int32, lengths (N,), labels (N,) with 1 = positive; the width
                                is seq_len, or with seq_len null (every token) the longest review of all splits
  vocab.json                    the tokens, a token's id being its position
  stats.json                    counts, length percentiles and OOV rate per split
and, apart from them (so that a reader of the archive's reviews reruns nothing that trains), data/splits.json:
per split, the normalised archive member name (`aclImdb/train/pos/123_9.txt`) of each row of its .safetensors,
in row order; the baseline reads the whole reviews by these names.

The outputs depend only on the reviews, not on how the archive was packed: members are matched by
their normalised name (`./aclImdb/...` is `aclImdb/...`) and sorted by label and review id, so the
official archive and a repacked copy (other member order, tar format, compression, timestamps) give
byte-identical files, and switching data source retrains nothing.
"""

import json
import re
import tarfile
import time
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from pydantic import Field
from safetensors.numpy import save_file

from imdb_rnn.core.common import StageError, atomic_output, run_stage
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import PROCESSED_DIR, RAW_ARCHIVE, SPLITS_FILE, STATS_FILE, VOCAB_FILE, split_file
from imdb_rnn.core.text import LABELS, PAD, UNK, UNK_ID, decode, encode, tokenize


class Params(StageParams):
    vocab_size: int = Field(gt=0)
    seq_len: int | None = Field(gt=0)  # None: every token
    truncate: Literal["head", "tail"]
    val_fraction: float = Field(gt=0, lt=1)
    split_seed: int = Field(ge=0)


REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
FULL_SPLIT_SIZE = 12_500  # reviews per split and label in the real dataset


Review = tuple[int, int, str, str]  # label, review id, normalised member name, text


def read_reviews(archive_path: Path) -> dict[str, list[Review]]:
    """The labelled reviews per archive split, as (label, review id, member name, text), sorted by label then id."""
    reviews: dict[str, list[Review]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise StageError(
                        f"{archive_path}: member {member.name!r} escapes the archive root; refusing a corrupt or hostile archive"
                    )
                if member.issym() or member.islnk():
                    raise StageError(
                        f"{archive_path}: member {member.name!r} is a link; refusing a corrupt or hostile archive"
                    )
                match = REVIEW.fullmatch(name.as_posix())
                if match and member.isfile():
                    split, label, review_id, _rating = match.groups()
                    text = decode(archive.extractfile(member).read())
                    reviews[split].append((LABELS[label], int(review_id), name.as_posix(), text))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise StageError(
            f"cannot read {archive_path} as a gzip tar archive ({error}); run `dvc repro -f download` to fetch it again"
        ) from None
    for split, rows in reviews.items():
        for label, value in LABELS.items():
            count = sum(row[0] == value for row in rows)
            if count == 0:
                raise StageError(
                    f"{archive_path} has no reviews under aclImdb/{split}/{label}/: not the IMDB (aclImdb) layout; check data.sources in params.yaml"
                )
            if count != FULL_SPLIT_SIZE:
                print(f"note: aclImdb/{split}/{label} has {count:,} reviews (the full dataset has {FULL_SPLIT_SIZE:,})")
        rows.sort()
    return reviews


def build_vocab(token_lists: list[list[str]], vocab_size: int) -> list[str]:
    """<pad>, <unk>, then the `vocab_size` most frequent tokens; ties broken alphabetically."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [PAD, UNK] + [token for token, _ in ranked[:vocab_size]]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): `fraction` of each label's rows, at least one, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    val = []
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        n_val = max(1, round(len(rows) * fraction))
        if n_val >= len(rows):
            raise StageError(
                f"val_fraction = {fraction} leaves no training review of label {value} ({len(rows)} in all); lower it"
            )
        val.append(rng.permutation(rows)[:n_val])
    val_rows = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val_rows), val_rows


def encode_split(
    token_lists: list[list[str]],
    labels: list[int],
    token_ids: dict[str, int],
    seq_len: int | None,
    truncate: str,
    width: int,
) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors of one split, `width` ids a row, and its statistics."""
    ids = np.zeros((len(token_lists), width), dtype=np.int32)
    lengths = np.zeros(len(token_lists), dtype=np.int64)
    unknown = 0
    for row, tokens in enumerate(token_lists):
        encoded = encode(tokens, token_ids, seq_len, truncate)
        ids[row, : len(encoded)] = encoded
        lengths[row] = len(encoded)
        unknown += sum(token not in token_ids for token in tokens)
    labels_array = np.asarray(labels, dtype=np.int64)
    full_lengths = np.array([len(tokens) for tokens in token_lists])
    total_tokens = int(full_lengths.sum())
    stats = {
        "reviews": len(token_lists),
        "pos": int(labels_array.sum()),
        "neg": int((labels_array == 0).sum()),
        "tokens": total_tokens,
        "length_percentiles": {f"p{q}": int(np.percentile(full_lengths, q)) for q in (5, 25, 50, 75, 95, 99)},
        "max_length": int(full_lengths.max()),
        "truncated_fraction": round(float((full_lengths > (seq_len or np.inf)).mean()), 4),
        "oov_rate": round(unknown / max(total_tokens, 1), 4),
    }
    return {"ids": ids, "lengths": lengths, "labels": labels_array}, stats


def main() -> None:
    params = load_params(Params)
    start = time.perf_counter()
    reviews = read_reviews(RAW_ARCHIVE)
    tokens = {split: [tokenize(text) for *_, text in rows] for split, rows in reviews.items()}
    labels = {split: np.array([label for label, *_ in rows]) for split, rows in reviews.items()}
    names = {split: [name for _, _, name, _ in rows] for split, rows in reviews.items()}

    train_rows, val_rows = stratified_split(labels["train"], params.val_fraction, params.split_seed)
    splits = {
        "train": ([tokens["train"][i] for i in train_rows], labels["train"][train_rows]),
        "val": ([tokens["train"][i] for i in val_rows], labels["train"][val_rows]),
        "test": (tokens["test"], labels["test"]),
    }
    split_names = {
        "train": [names["train"][i] for i in train_rows],
        "val": [names["train"][i] for i in val_rows],
        "test": names["test"],
    }
    vocab = build_vocab(splits["train"][0], params.vocab_size)
    token_ids = {token: index for index, token in enumerate(vocab)}
    assert token_ids[UNK] == UNK_ID

    longest = max(len(tokens) for split_tokens, _ in splits.values() for tokens in split_tokens)
    width = params.seq_len or longest
    stats: dict = {"vocab_size": len(vocab), "seq_len": params.seq_len, "truncate": params.truncate}
    with atomic_output(PROCESSED_DIR) as out, atomic_output(SPLITS_FILE) as splits_path:
        out.mkdir()
        for split, (split_tokens, split_labels) in splits.items():
            tensors, stats[split] = encode_split(
                split_tokens, split_labels.tolist(), token_ids, params.seq_len, params.truncate, width
            )
            save_file(tensors, split_file(split, out))
        (out / VOCAB_FILE.name).write_text(json.dumps(vocab, ensure_ascii=False) + "\n")
        (out / STATS_FILE.name).write_text(json.dumps(stats, indent=2) + "\n")
        splits_path.write_text(json.dumps(split_names, indent=1) + "\n")
    counts = ", ".join(f"{split} {stats[split]['reviews']:,}" for split in splits)
    print(f"tokenize: {counts} reviews, vocabulary {len(vocab):,} tokens, in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    run_stage(main)
