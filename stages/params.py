"""Load params.yaml (as YAML 1.2, the way DVC reads it) and check every value before a stage does any work.

A wrong value (`dvc exp run -S hidden=0`) stops the stage at once with a message that names
the key, the value and what is allowed. Values are never coerced: a quoted number, a boolean
where a number is meant or a float where an integer is meant is refused, not silently converted.
The allowed architectures, losses and poolings are the registries' keys (stages/models.py,
stages/losses.py), so they are listed nowhere else.
"""

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML, YAMLError

from stages.common import StageError
from stages.losses import LOSS_FUNCTIONS
from stages.models import ARCHITECTURES, POOLINGS
from stages.paths import PARAMS_FILE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataParams(_Strict):
    url: str = Field(min_length=1)
    md5: str | None

    @field_validator("md5")
    @classmethod
    def _md5_or_null(cls, md5: str | None) -> str | None:
        if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            raise ValueError("should be an MD5 digest (32 hex digits) or null to skip the check")
        return md5


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("a value is listed twice")
    return values


class Params(_Strict):
    data: DataParams
    vocab_size: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    truncate: Literal["head", "tail"]
    val_fraction: float = Field(gt=0, lt=1)
    split_seed: int = Field(ge=0)
    archs: list[Literal[tuple(ARCHITECTURES)]] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    embed_dim: int = Field(gt=0)
    hidden: int = Field(gt=0)
    pooling: Literal[POOLINGS]
    loss: Literal[tuple(LOSS_FUNCTIONS)]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    trim_batches: bool
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]

    _check_archs = field_validator("archs")(_unique)

    @field_validator("seeds")
    @classmethod
    def _unique_non_negative(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds):
            raise ValueError("seeds must be at least 0")
        return _unique(seeds)


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
    value = error["input"]
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}' (allowed: {', '.join(Params.model_fields)}; under data: url, md5)"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error" and key == "archs":
        message = f"unknown architecture {value}; choose from {', '.join(ARCHITECTURES)}"
    if isinstance(value, str) and re.fullmatch(r"[-+.\deE]+|true|false", value, re.IGNORECASE):
        message += " (this value is a quoted string: write it without quotes)"
    whole = error["loc"][1] if len(error["loc"]) > 1 and isinstance(error["loc"][1], int) else None
    where = f" (item {whole})" if whole is not None else ""
    return f"'{key}'{where} = {value!r}: {message}"


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate the params file; raise StageError listing every wrong key."""
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} not found: run the stage from the project root") from None
    except YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        problems = "\n  ".join(_describe(e) for e in error.errors())
        raise StageError(f"invalid {path}:\n  {problems}\nFix the value in {path} or in your -S option.") from None
