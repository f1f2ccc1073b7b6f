import pytest
from conftest import PROJECT, set_params

from imdb_rnn.classifier import ARCHITECTURES, POOLINGS
from imdb_rnn.common import StageError
from imdb_rnn.losses import LOSS_FUNCTIONS
from imdb_rnn.params import load_params


def test_the_committed_params_are_valid(project):
    params = load_params()
    assert set(params.archs) <= set(ARCHITECTURES) and params.seeds == [0, 1, 2, 3, 4] and params.split_seed == 0


def test_the_data_source_is_relative_to_the_project():
    params = load_params(PROJECT / "params.yaml")
    assert not params.data.url.startswith("/")


def refusal(project, **changes) -> str:
    set_params(project, **changes)
    with pytest.raises(StageError, match="invalid params.yaml") as error:
        load_params()
    return str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("vocab_size", -5, "'vocab_size' = -5: Input should be greater than 0"),
        ("val_fraction", 1.5, "'val_fraction' = 1.5: Input should be less than 1"),
        ("hidden", 0, "'hidden' = 0"),
        ("batch_size", -1, "'batch_size' = -1"),
        ("epochs", "ten", "'epochs' = 'ten'"),
        ("loss", "foo", "'loss' = 'foo': Input should be 'cross_entropy', 'nll'"),
        ("pooling", "max", "'pooling' = 'max': Input should be 'mean', 'masked_mean' or 'last'"),
        (
            "archs",
            ["cnn"],
            "'archs' (item 0) = 'cnn': unknown architecture cnn; choose from " + ", ".join(ARCHITECTURES),
        ),
        ("archs", [], "'archs' = []"),
        ("archs", ["rnn", "rnn"], "'archs' = ['rnn', 'rnn']: a value is listed twice"),
        ("seeds", [], "'seeds' = []"),
        ("seeds", [0, 0], "'seeds' = [0, 0]: a value is listed twice"),
        ("seeds", [-1], "'seeds' = [-1]: seeds must be at least 0"),
        ("truncate", "middle", "'truncate' = 'middle': Input should be 'head' or 'tail'"),
        ("data", {"url": "x", "md5": "abc"}, "'data.md5' = 'abc': should be an MD5 digest"),
    ],
)
def test_a_wrong_value_names_key_value_and_what_is_allowed(project, key, value, expected):
    assert expected in refusal(project, **{key: value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("hidden", True, "'hidden' = True: Input should be a valid integer"),  # a boolean for an integer
        ("lr", False, "'lr' = False: Input should be a valid number"),  # a boolean for a float
        ("hidden", "64", "'hidden' = '64': Input should be a valid integer (this value is a quoted string"),
        ("lr", "0.001", "'lr' = '0.001': Input should be a valid number (this value is a quoted string"),
        ("hidden", 64.0, "'hidden' = 64.0: Input should be a valid integer"),  # a float for an integer
        ("seeds", [0, 1.5], "'seeds' (item 1) = 1.5: Input should be a valid integer"),
        ("split_seed", 0.0, "'split_seed' = 0.0: Input should be a valid integer"),
        ("trim_batches", 1, "'trim_batches' = 1: Input should be a valid boolean"),  # an integer for a boolean
        ("trim_batches", "true", "'trim_batches' = 'true': Input should be a valid boolean"),
        ("archs", "rnn", "'archs' = 'rnn': Input should be a valid list"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(project, key, value, expected):
    assert expected in refusal(project, **{key: value})


def test_an_integer_where_a_float_is_meant_is_a_float(project):
    set_params(project, lr=1, weight_decay=0)
    assert load_params().lr == 1.0


def test_yaml_1_2_reads_an_exponent_as_a_number_as_dvc_does(project):
    text = (project / "params.yaml").read_text().replace("lr: 0.001", "lr: 1e-3")
    (project / "params.yaml").write_text(text)
    assert load_params().lr == 0.001


def test_an_unknown_key_is_refused(project):
    assert "unknown key 'hiden'" in refusal(project, hiden=128)


def test_a_missing_file_says_where_to_run(project):
    (project / "params.yaml").unlink()
    with pytest.raises(StageError, match="params.yaml not found"):
        load_params()


def test_md5_may_be_null(project):
    set_params(project, data={"url": "/some/archive.tar.gz", "md5": None})
    assert load_params().data.md5 is None


def test_the_allowed_names_are_the_registries_keys(project):
    for arch in ARCHITECTURES:
        set_params(project, archs=[arch])
        assert load_params().archs == [arch]
    for loss in LOSS_FUNCTIONS:
        set_params(project, loss=loss)
        assert load_params().loss == loss
    for pooling in POOLINGS:
        set_params(project, pooling=pooling)
        assert load_params().pooling == pooling
