import gzip
import io
import json
import os
import tarfile

import numpy as np
import pytest
from conftest import build_archive, set_params

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PROCESSED_DIR, RAW_ARCHIVE, SPLITS_FILE, STATS_FILE, VOCAB_FILE
from imdb_rnn.core.text import UNK_ID, encode
from imdb_rnn.core.text import tokenize as split_words
from imdb_rnn.training.data import SPLITS, load_split, load_vocab
from stages import tokenize


def run(root, **archive_options):
    build_archive(root / RAW_ARCHIVE, **archive_options)
    tokenize.main()
    return json.loads((root / STATS_FILE).read_text())


def test_counts_splits_and_vocabulary(project):
    stats = run(project, per_label=10)
    assert stats["train"] == stats["train"] | {"reviews": 18, "pos": 9, "neg": 9}
    assert stats["val"] == stats["val"] | {"reviews": 2, "pos": 1, "neg": 1}
    assert stats["test"] == stats["test"] | {"reviews": 20, "pos": 10, "neg": 10}
    vocab = load_vocab(project / VOCAB_FILE)
    assert vocab[:2] == ["<pad>", "<unk>"] and stats["vocab_size"] == len(vocab)
    assert "zzzunsup" not in vocab  # train/unsup is ignored
    for split in SPLITS:
        assert {"length_percentiles", "oov_rate", "max_length"} <= stats[split].keys()


def test_encoded_rows_hold_lengths_labels_and_padding(project):
    set_params(project, seq_len=12)
    run(project)
    for split in SPLITS:
        data = load_split(split, project / PROCESSED_DIR)
        ids, lengths, labels = data["ids"], data["lengths"], data["labels"]
        assert ids.shape[1] == 12 and len(ids) == len(lengths) == len(labels)
        assert set(labels.tolist()) == {0, 1}
        for row, length in zip(ids, lengths, strict=True):
            assert (row[length:] == 0).all() and (row[:length] != 0).all()


def test_seq_len_null_keeps_every_token_padding_to_the_longest_review(project):
    set_params(project, seq_len=None)
    stats = run(project)
    longest = max(stats[split]["max_length"] for split in SPLITS)
    assert stats["seq_len"] is None
    for split in SPLITS:
        data = load_split(split, project / PROCESSED_DIR)
        assert data["ids"].shape[1] == longest and stats[split]["truncated_fraction"] == 0
        assert data["lengths"].max() == stats[split]["max_length"]


def test_vocabulary_comes_from_training_reviews_only_and_ties_are_alphabetical(project):
    set_params(project, vocab_size=3)
    members = {f"aclImdb/test/pos/{i}_9.txt": b"testonly " * 50 for i in range(1000, 1010)}
    run(project, members=members)
    vocab = load_vocab(project / VOCAB_FILE)
    assert "testonly" not in vocab and len(vocab) == 5
    test = load_split("test", project / PROCESSED_DIR)
    assert (test["ids"][-10:, 0] == UNK_ID).all()  # rows are sorted by label, then review id


def test_the_splits_file_names_each_row_of_every_split_in_order(project):
    set_params(project, seq_len=15, vocab_size=40)
    stats = run(project, per_label=12, members={"aclImdb/train/pos/100_9.txt": b"caf\xe9 great \xff\xfe"})
    names = json.loads((project / SPLITS_FILE).read_text())
    with tarfile.open(project / RAW_ARCHIVE, "r:gz") as archive:
        texts = {m.name: archive.extractfile(m).read().decode("utf-8", errors="replace") for m in archive if m.isfile()}
    token_ids = {token: index for index, token in enumerate(load_vocab(project / VOCAB_FILE))}
    for split in SPLITS:
        data = load_split(split, project / PROCESSED_DIR)
        assert len(names[split]) == stats[split]["reviews"] == len(data["ids"])
        assert all(name.startswith(f"aclImdb/{'test' if split == 'test' else 'train'}/") for name in names[split])
        for name, ids, length, label in zip(names[split], data["ids"], data["lengths"], data["labels"], strict=True):
            assert ids[:length].tolist() == encode(split_words(texts[name]), token_ids, 15, "tail")
            assert label == (name.split("/")[2] == "pos")
    assert set(names["train"]).isdisjoint(names["val"])
    assert sorted(os.listdir(project / PROCESSED_DIR)) == sorted(  # beside data/processed, which it leaves as it was
        ["train.safetensors", "val.safetensors", "test.safetensors", "vocab.json", "stats.json"]
    )


def test_build_vocab_breaks_ties_alphabetically():
    assert tokenize.build_vocab([["b", "a", "c", "c"]], 2) == ["<pad>", "<unk>", "c", "a"]


def test_tail_truncation_keeps_the_last_tokens(project):
    set_params(project, seq_len=2, truncate="tail")
    words = b"the the the the it it it it film"
    run(project, members={"aclImdb/train/pos/1000_9.txt": words, "aclImdb/test/pos/1000_9.txt": b"the it film"})
    vocab = load_vocab(project / VOCAB_FILE)
    test = load_split("test", project / PROCESSED_DIR)
    assert [vocab[i] for i in test["ids"][-1].tolist()] == ["it", "film"]


def test_the_split_is_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 30)
    train, val = tokenize.stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(80))
    assert (labels[val] == 0).sum() == 10 and (labels[val] == 1).sum() == 6
    assert (tokenize.stratified_split(labels, 0.2, seed=3)[1] == val).all()
    assert not (tokenize.stratified_split(labels, 0.2, seed=4)[1] == val).all()


def outputs(root):
    """tokenize's output files, by name, with their bytes."""
    files = [*(root / PROCESSED_DIR).iterdir(), root / SPLITS_FILE]
    return {path.name: path.read_bytes() for path in files}


def test_same_archive_and_params_give_byte_identical_outputs(project):
    run(project)
    first = outputs(project)
    tokenize.main()
    assert outputs(project) == first


def repack(source, target):
    """The members of `source` packed otherwise: reverse order, `./` prefixed, directory entries, another tar
    format, owner and timestamps, another gzip level and header time."""
    with tarfile.open(source, "r:gz") as archive:
        members = [(m, archive.extractfile(m).read()) for m in archive if m.isfile()]
    with gzip.GzipFile(target, "wb", compresslevel=1, mtime=1_000_000) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.GNU_FORMAT) as archive:
            for directory in ("./aclImdb", "./aclImdb/train", "./aclImdb/test"):
                info = tarfile.TarInfo(directory)
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            for member, data in reversed(members):
                info = tarfile.TarInfo("./" + member.name)
                info.size, info.mtime, info.uname, info.mode = len(data), 1_300_000_000, "maas", 0o664
                archive.addfile(info, io.BytesIO(data))


def test_the_same_reviews_packed_differently_give_byte_identical_outputs(project, tmp_path):
    official = build_archive(tmp_path / "official.tar.gz", per_label=15)
    repack(official, tmp_path / "repacked.tar.gz")
    assert (tmp_path / "official.tar.gz").read_bytes() != (tmp_path / "repacked.tar.gz").read_bytes()
    written = []
    for archive in ("official.tar.gz", "repacked.tar.gz"):
        (project / RAW_ARCHIVE).parent.mkdir(parents=True, exist_ok=True)
        (project / RAW_ARCHIVE).write_bytes((tmp_path / archive).read_bytes())
        tokenize.main()
        written.append(outputs(project))
    assert written[0] == written[1] and len(written[0]) == 6
    assert json.loads(written[0]["stats.json"])["test"]["reviews"] == 30  # the ./ names were read too


def test_undecodable_bytes_and_empty_reviews_are_kept(project):
    members = {"aclImdb/train/pos/100_9.txt": b"caf\xe9 great \xff\xfe", "aclImdb/train/neg/100_1.txt": b""}
    stats = run(project, members=members)
    assert stats["train"]["reviews"] + stats["val"]["reviews"] == 22


def hostile_archive(path, add):
    build_archive(path)
    with tarfile.open(path, "r:gz") as source:
        members = [(m, source.extractfile(m).read() if m.isfile() else None) for m in source]
    with tarfile.open(path, "w:gz") as archive:
        add(archive)
        for member, data in members:
            archive.addfile(member, None if data is None else io.BytesIO(data))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("dotdot", "escapes the archive root"),
        ("absolute", "escapes the archive root"),
        ("symlink", "is a link"),
        ("hardlink", "is a link"),
    ],
)
def test_hostile_members_are_refused(project, kind, message):
    def add(archive):
        if kind in ("dotdot", "absolute"):
            info = tarfile.TarInfo("aclImdb/../../evil.txt" if kind == "dotdot" else "/etc/evil.txt")
            info.size = 0
        else:
            info = tarfile.TarInfo("aclImdb/train/pos/999_9.txt")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
        archive.addfile(info)

    hostile_archive(project / RAW_ARCHIVE, add)
    with pytest.raises(StageError, match=message):
        tokenize.main()
    assert not (project / PROCESSED_DIR).exists() and not (project / SPLITS_FILE).exists()


def test_a_truncated_archive_is_a_clear_error(project):
    path = build_archive(project / RAW_ARCHIVE)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(StageError, match="cannot read .* as a gzip tar archive"):
        tokenize.main()
    assert not (project / PROCESSED_DIR).exists() and not (project / SPLITS_FILE).exists()


@pytest.mark.parametrize("missing", ["test/neg", "train/pos"])
def test_a_split_or_label_without_reviews_is_a_clear_error(project, missing):
    build_archive(project / RAW_ARCHIVE, skip=(missing,))
    with pytest.raises(StageError, match=f"no reviews under aclImdb/{missing}/"):
        tokenize.main()


def test_a_failed_run_keeps_the_earlier_output(project):
    run(project)
    before = outputs(project)
    build_archive(project / RAW_ARCHIVE, skip=("test/pos",))
    with pytest.raises(StageError):
        tokenize.main()
    assert outputs(project) == before
    assert sorted(os.listdir(project / "data")) == ["processed", "raw", "splits.json"]
