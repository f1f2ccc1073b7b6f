"""imdb_rnn/core/params.py: a stage reads its own keys only, strictly (test_dvc_yaml.py: those its dvc.yaml lists)."""

import importlib
from typing import Annotated

import pytest
import yaml
from conftest import PROJECT
from pydantic import Field, field_validator

from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import (
    SEED_RULE,
    StageParams,
    check_choice,
    check_seed,
    load_params,
    one_of,
    seed_list,
    unique,
)

STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


class Source(StageParams):
    url: str
    md5: str | None


class Example(StageParams):
    """A schema with one field of each kind the stages use."""

    size: int = Field(gt=0)
    rate: float
    flag: bool
    names: list[str] = Field(min_length=1)
    seeds: list[int]
    source: Source

    _unique_names = field_validator("names")(unique)


VALID = {
    "size": 64,
    "rate": 0.5,
    "flag": True,
    "names": ["a", "b"],
    "seeds": [0, 1],
    "source": {"url": "x", "md5": None},
}


def write(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def refusal(tmp_path, **changes) -> str:
    """The message of load_params(Example) on VALID with `changes` (a value of None removes the key)."""
    params = {key: value for key, value in (VALID | changes).items() if value is not None}
    path = write(tmp_path, yaml.safe_dump(params))
    with pytest.raises(StageError) as error:
        load_params(Example, path)
    message = str(error.value)
    assert message.startswith(f"invalid {path}:\n") and message.endswith(
        f"Fix the value in {path} or in your -S option."
    )
    return message


def test_only_the_schemas_keys_are_read(tmp_path):
    path = write(tmp_path, yaml.safe_dump(VALID | {"hidden": "not a number", "other": {"nested": 1}}))
    params = load_params(Example, path)
    assert params == Example(**VALID) and not hasattr(params, "hidden")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("size", True, "'size' = True: Input should be a valid integer"),  # a boolean for an integer
        ("rate", False, "'rate' = False: Input should be a valid number"),  # a boolean for a float
        ("size", "64", "'size' = '64': Input should be a valid integer (this value is a quoted string"),
        ("rate", "0.001", "'rate' = '0.001': Input should be a valid number (this value is a quoted string"),
        ("size", 64.0, "'size' = 64.0: Input should be a valid integer"),  # a float for an integer
        ("seeds", [0, 1.5], "'seeds' (item 1) = 1.5: Input should be a valid integer"),
        ("flag", 1, "'flag' = 1: Input should be a valid boolean"),  # an integer for a boolean
        ("flag", "true", "'flag' = 'true': Input should be a valid boolean (this value is a quoted string"),
        ("names", "a", "'names' = 'a': Input should be a valid list"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(tmp_path, key, value, expected):
    assert expected in refusal(tmp_path, **{key: value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("size", 0, "'size' = 0: Input should be greater than 0"),
        ("names", [], "'names' = []: List should have at least 1 item"),
        ("names", ["a", "a"], "'names' = ['a', 'a']: a value is listed twice"),
    ],
)
def test_a_wrong_value_names_key_value_and_what_is_allowed(tmp_path, key, value, expected):
    assert expected in refusal(tmp_path, **{key: value})


def test_every_wrong_key_is_listed_at_once(tmp_path):
    message = refusal(tmp_path, size=0, rate="x")
    assert "'size' = 0" in message and "'rate' = 'x'" in message


def test_an_unknown_nested_key_is_refused(tmp_path):
    assert "unknown key 'source.mirror'" in refusal(tmp_path, source={"url": "x", "md5": None, "mirror": "y"})


def test_a_missing_key_is_named(tmp_path):
    assert "missing key 'size'" in refusal(tmp_path, size=None)
    assert "missing key 'source.md5'" in refusal(tmp_path, source={"url": "x"})


def test_an_integer_where_a_float_is_meant_is_a_float(tmp_path):
    params = load_params(Example, write(tmp_path, yaml.safe_dump(VALID | {"rate": 1})))
    assert params.rate == 1.0 and isinstance(params.rate, float)


def test_yaml_1_2_as_dvc_reads_it(tmp_path):
    text = yaml.safe_dump(VALID).replace("rate: 0.5", "rate: 1e-3")
    assert load_params(Example, write(tmp_path, text)).rate == 0.001  # YAML 1.1 would read a string
    with pytest.raises(StageError, match="'flag' = 'yes': Input should be a valid boolean"):
        load_params(Example, write(tmp_path, text.replace("flag: true", "flag: yes")))  # 1.1's boolean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "params.yaml not found: run the stage from the project root"),
        ("a: [1", "is not valid YAML"),
        ("- 1", "should map keys to values, not hold list"),
    ],
)
def test_an_unreadable_file_is_a_message(tmp_path, text, expected):
    path = tmp_path / "params.yaml" if text is None else write(tmp_path, text)
    with pytest.raises(StageError, match=expected):
        load_params(Example, path)


def test_check_choice_says_what_is_allowed_as_load_params_does(tmp_path):
    path = tmp_path / "params.yaml"
    assert check_choice("loss", "nll", ("cross_entropy", "nll"), path) == "nll"
    with pytest.raises(StageError) as error:
        check_choice("loss", "foo", ("cross_entropy", "nll"), path)
    assert str(error.value) == (
        f"invalid {path}:\n  'loss' = 'foo': unknown; choose from cross_entropy, nll\n"
        f"Fix the value in {path} or in your -S option."
    )


class Named(StageParams):
    loss: Annotated[str, one_of(("cross_entropy", "nll"))]


def test_a_registry_name_is_checked_by_the_params_class_in_check_choices_words(tmp_path):
    assert load_params(Named, write(tmp_path, "loss: nll")).loss == "nll"
    with pytest.raises(StageError) as error:
        load_params(Named, write(tmp_path, "loss: foo"))
    with pytest.raises(StageError) as same:
        check_choice("loss", "foo", ("cross_entropy", "nll"), tmp_path / "params.yaml")
    assert str(error.value) == str(same.value)


@pytest.mark.parametrize("text", ["-1", "1.5", "01", "True", "seven", ""])
def test_a_seed_from_the_matrix_is_refused_by_the_name_of_its_list(tmp_path, text):
    path = tmp_path / "params.yaml"
    with pytest.raises(StageError) as error:
        check_seed(text, path)
    assert str(error.value) == (
        f"invalid {path}:\n  'seeds' = {text!r}: {SEED_RULE}\nFix the value in {path} or in your -S option."
    )


def test_a_seed_from_the_matrix_is_an_integer():
    assert [check_seed(text) for text in ("0", "7", "123")] == [0, 7, 123]


def test_the_seeds_list_is_checked_by_the_same_rule():
    assert seed_list([0, 3]) == [0, 3]
    with pytest.raises(ValueError, match=SEED_RULE.replace("(", r"\(").replace(")", r"\)")):
        seed_list([0, -1])
    with pytest.raises(ValueError, match="a value is listed twice"):
        seed_list([1, 1])


def test_unique_refuses_a_repeated_value():
    assert unique([3, 1]) == [3, 1]
    with pytest.raises(ValueError, match="a value is listed twice"):
        unique([3, 1, 3])


@pytest.mark.parametrize("name", STAGES)
def test_the_committed_params_are_valid_for_every_stage(name):
    load_params(importlib.import_module(f"stages.{name}").Params, PROJECT / "params.yaml")
