import torch

from stages.data import PAD_ID, UNK_ID, batches, encode, padded_batch, tokenize


def test_tokenize_strips_markup_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("I didn't LIKE it.<br /><br />5/10, Café-crème!") == [
        "i",
        "didn't",
        "like",
        "it",
        "5",
        "10",
        "café",
        "crème",
    ]


def test_tokenize_of_nothing_is_empty():
    assert tokenize("") == [] and tokenize("<br/> ... !!") == []


def test_encode_keeps_head_or_tail_and_maps_unknown_tokens():
    token_ids = {"<pad>": PAD_ID, "<unk>": UNK_ID, "a": 2, "b": 3, "c": 4}
    tokens = ["a", "b", "zzz", "c"]
    assert encode(tokens, token_ids, 3, "head") == [2, 3, UNK_ID]
    assert encode(tokens, token_ids, 3, "tail") == [3, UNK_ID, 4]
    assert encode(tokens, token_ids, 10, "head") == [2, 3, UNK_ID, 4]


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
