import pytest
import torch
from conftest import build_archive, set_params

from imdb_rnn.core.paths import RAW_ARCHIVE
from imdb_rnn.core.text import PAD_ID
from imdb_rnn.training.data import SPLITS, batches, evaluation_order, load_split, narrow, padded_batch, trims_batches
from stages import tokenize


def split_of(lengths: list[int], seq_len: int = 10) -> dict[str, torch.Tensor]:
    ids = torch.zeros(len(lengths), seq_len, dtype=torch.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.arange(2, 2 + length)
    return {"ids": ids, "lengths": torch.tensor(lengths), "labels": torch.arange(len(lengths)) % 2}


def test_training_batches_group_similar_lengths_and_cut_padding():
    split = split_of([1, 9, 2, 8, 3, 7, 4, 6] * 4)
    made = batches(split, 4, trim=True, generator=torch.Generator().manual_seed(0), pool_batches=8)
    assert sorted(len(labels) for _, _, labels in made) == [4] * 8
    for ids, lengths, _ in made:
        assert ids.shape[1] == lengths.max() and lengths.max() - lengths.min() <= 1
    again = batches(split, 4, trim=True, generator=torch.Generator().manual_seed(0), pool_batches=8)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(made, again, strict=True))


def test_untrimmed_training_batches_are_random_and_full_width():
    split = split_of(list(range(1, 11)) * 3)
    made = batches(split, 5, trim=False, generator=torch.Generator().manual_seed(0))
    assert all(ids.shape == (len(labels), 10) for ids, _, labels in made)
    assert sorted(torch.cat([lengths for _, lengths, _ in made]).tolist()) == sorted(split["lengths"].tolist())
    assert any(lengths.max() - lengths.min() > 5 for _, lengths, _ in made)


def test_evaluation_batches_keep_every_review_once():
    split = split_of([3, 1, 2, 5, 4])
    made = batches(split, 2, trim=True)
    assert [lengths.tolist() for _, lengths, _ in made] == [[5, 4], [3, 2], [1]]
    assert [ids.shape[1] for ids, _, _ in made] == [5, 3, 1]


def test_padded_batch_pads_with_pad_and_cuts_to_the_width():
    ids, lengths = padded_batch([[5, 6, 7], [8], []], width=2)
    assert ids.tolist() == [[5, 6], [8, PAD_ID], [PAD_ID, PAD_ID]] and lengths.tolist() == [2, 1, 0]


def test_evaluation_order_is_longest_first_with_ties_in_split_order():
    assert evaluation_order(torch.tensor([3, 5, 3, 9, 5])).tolist() == [3, 1, 4, 0, 2]


def test_only_mean_pooling_keeps_the_padding():
    assert not trims_batches("mean") and trims_batches("masked_mean") and trims_batches("last")


@pytest.mark.parametrize("truncate", ["head", "tail"])
def test_narrowing_whole_reviews_gives_what_tokenize_writes_at_the_smaller_sizes(project, truncate):
    build_archive(project / RAW_ARCHIVE, per_label=12)
    set_params(project, seq_len=None, vocab_size=1000, truncate=truncate)
    tokenize.main()
    whole = {split: load_split(split) for split in SPLITS}
    set_params(project, seq_len=9, vocab_size=7)
    tokenize.main()
    for split in SPLITS:
        narrowed, written = narrow(whole[split], 7, 9, truncate), load_split(split)
        assert torch.equal(narrowed["ids"], written["ids"])
        assert torch.equal(narrowed["lengths"], written["lengths"])
    assert narrow(whole["val"], 1000, None, truncate)["ids"].equal(whole["val"]["ids"])
