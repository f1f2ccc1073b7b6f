import pytest
from conftest import set_params

from stages.common import StageError
from stages.params import ARCHS, load_params


def test_the_committed_params_are_valid(project):
    params = load_params()
    assert params.vocab_size == 20000 and params.hidden == 64 and params.archs == ["rnn", "lstm", "gru", "lstm_manual"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("vocab_size", -5, "'vocab_size' = -5: Input should be greater than 0"),
        ("seq_len", "x", "'seq_len' = 'x'"),
        ("val_fraction", 1.5, "'val_fraction' = 1.5: Input should be less than 1"),
        ("hidden", 0, "'hidden' = 0"),
        ("batch_size", -1, "'batch_size' = -1"),
        ("epochs", "ten", "'epochs' = 'ten'"),
        ("loss", "foo", "'loss' = 'foo': Input should be 'cross_entropy', 'nll'"),
        ("archs", ["cnn"], "'archs' = ['cnn']: unknown architecture cnn; choose from " + ", ".join(ARCHS)),
        ("archs", [], "'archs' = []"),
        ("truncate", "middle", "'truncate' = 'middle': Input should be 'head' or 'tail'"),
        ("data", {"url": "x", "md5": "abc"}, "'data.md5' = 'abc': should be an MD5 digest"),
    ],
)
def test_a_wrong_value_names_key_value_and_what_is_allowed(project, key, value, expected):
    set_params(project, **{key: value})
    with pytest.raises(StageError, match="invalid params.yaml") as error:
        load_params()
    assert expected in str(error.value)


def test_an_unknown_key_is_refused(project):
    set_params(project, hiden=128)
    with pytest.raises(StageError, match="unknown key 'hiden'"):
        load_params()


def test_a_missing_file_says_where_to_run(project):
    (project / "params.yaml").unlink()
    with pytest.raises(StageError, match="params.yaml not found"):
        load_params()


def test_md5_may_be_null(project):
    set_params(project, data={"url": "/some/archive.tar.gz", "md5": None})
    assert load_params().data.md5 is None


def test_the_allowed_archs_are_the_registered_layers():
    from stages.models import RECURRENT_LAYERS

    assert ARCHS == tuple(RECURRENT_LAYERS)
