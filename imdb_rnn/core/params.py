"""Read a stage's own params from params.yaml (as YAML 1.2, the way DVC reads it) and check them first.

Each stage declares its params as a `Params` class (a subclass of StageParams) whose fields are the
keys it lists under `params:` in dvc.yaml (tests/test_dvc_yaml.py checks that the two agree), and
reads nothing else: an edit of another stage's param never reruns it. A wrong value
(`dvc exp run -S hidden=0`) stops the stage at once with a message that names the key, the value and
what is allowed. Values are never coerced: a quoted number, a boolean where a number is meant or a
float where an integer is meant is refused, not silently converted. A param that names an entry of a
registry (a loss, a pooling) is checked by the Params class of the stage that uses it (`one_of`), so
that this module imports no torch and no registry, and a Params class alone checks every value of its
stage (tools.grid checks a grid's cells with them). The matrix params `archs` and `seeds` reach a
training run as its command's arguments (dvc.yaml), so that a run does not depend on the whole list:
train and evaluate check them there, by name (`check_choice`, `check_seed`), and aggregate checks the lists.
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from ruamel.yaml import YAML, YAMLError

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PARAMS_FILE


class StageParams(BaseModel):
    """The params of one stage: strict types, frozen, no unknown keys inside a nested value."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


SEED_RULE = "a seed is a non-negative integer (0, 1, 2, ...)"
_SEED = re.compile(r"0|[1-9][0-9]*")  # as written in a command line: no sign, no leading zero, no decimals


def seed_list(seeds: list[int]) -> list[int]:
    """A field validator of `seeds`: non-negative, none listed twice."""
    if any(seed < 0 for seed in seeds):
        raise ValueError(SEED_RULE)
    return unique(seeds)


def one_of(choices: Iterable[str]) -> AfterValidator:
    """A field's validator (`Annotated[str, one_of(NAMES)]`): the value must be one of `choices`."""
    names = tuple(choices)

    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown; choose from {', '.join(names)}")
        return value

    return AfterValidator(check)


def unique(values: list) -> list:
    """A field validator: refuse a list that names a value twice."""
    if len(set(values)) != len(values):
        raise ValueError("a value is listed twice")
    return values


Schema = TypeVar("Schema", bound=StageParams)


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    value = error["input"]
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(value, str) and re.fullmatch(r"[-+.\deE]+|true|false", value, re.IGNORECASE):
        message += " (this value is a quoted string: write it without quotes)"
    item = next((part for part in error["loc"][1:] if isinstance(part, int)), None)
    where = f" (item {item})" if item is not None else ""
    return f"'{key}'{where} = {value!r}: {message}"


def _invalid(path: Path, problems: Iterable[str]) -> StageError:
    listed = "\n  ".join(problems)
    return StageError(f"invalid {path}:\n  {listed}\nFix the value in {path} or in your -S option.")


def load_params(schema: type[Schema], path: Path = PARAMS_FILE) -> Schema:
    """The keys of the params file that `schema` declares, validated; StageError listing every wrong one."""
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} not found: run the stage from the project root") from None
    except YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise StageError(f"{path} should map keys to values, not hold {type(raw).__name__}")
    try:
        return schema.model_validate({key: raw[key] for key in schema.model_fields if key in raw})
    except ValidationError as error:
        raise _invalid(path, (_describe(e) for e in error.errors())) from None


def check_seed(text: str, path: Path = PARAMS_FILE) -> int:
    """One item of `seeds` as dvc.yaml's matrix passes it to a run; the StageError of load_params if not a seed."""
    if not _SEED.fullmatch(text):
        raise _invalid(path, [f"'seeds' = {text!r}: {SEED_RULE}"])
    return int(text)


def check_choice(key: str, value: str, choices: Iterable[str], path: Path = PARAMS_FILE) -> str:
    """`value` if it is one of `choices`; the same StageError as a wrong value in load_params otherwise."""
    choices = tuple(choices)
    if value not in choices:
        raise _invalid(path, [f"'{key}' = {value!r}: unknown; choose from {', '.join(choices)}"])
    return value
