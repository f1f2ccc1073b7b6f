from imdb_rnn.core.text import PAD_ID, UNK_ID, encode, tokenize


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
