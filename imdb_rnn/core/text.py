"""A review's text, its label, and its token ids: what `tokenize` applies and `predict` and `baseline` repeat."""

import re

LABELS = {"neg": 0, "pos": 1}  # a review's folder in the archive (aclImdb/<split>/<neg|pos>/) -> its label
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

_MARKUP = re.compile(r"<br\s*/?>", re.IGNORECASE)
# A token is a run of letters or digits (any script), with inner apostrophes kept:
# "Don't" -> "don't", "5/10" -> "5", "10"; punctuation and underscores split tokens.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def decode(data: bytes) -> str:
    """A review file's text: UTF-8, any undecodable byte replaced."""
    return data.decode("utf-8", errors="replace")


def tokenize(text: str) -> list[str]:
    """Strip the `<br />` markup, lowercase, and split into word tokens (rule above)."""
    return _TOKEN.findall(_MARKUP.sub(" ", text).lower())


def encode(tokens: list[str], token_ids: dict[str, int], seq_len: int | None, truncate: str) -> list[int]:
    """Map tokens to ids (unknown ones to <unk>) and keep `seq_len` of them (None: all): the head or the tail."""
    kept = tokens if seq_len is None else tokens[:seq_len] if truncate == "head" else tokens[-seq_len:]
    return [token_ids.get(token, UNK_ID) for token in kept]
