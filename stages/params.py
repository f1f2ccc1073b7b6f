"""Load params.yaml and check every value before a stage does any work.

A wrong value (`dvc exp run -S hidden=0`) stops the stage at once with a message
that names the key, the value and what is allowed.
"""

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stages.common import StageError

PARAMS_FILE = Path("params.yaml")
ARCHS = ("rnn", "lstm", "gru", "rnn_manual", "lstm_manual", "gru_manual")
LOSSES = ("cross_entropy", "nll", "nll_log_softmax", "multi_margin", "mse")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Strict):
    url: str = Field(min_length=1)
    md5: str | None

    @field_validator("md5")
    @classmethod
    def _md5_or_null(cls, md5: str | None) -> str | None:
        if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            raise ValueError("should be an MD5 digest (32 hex digits) or null to skip the check")
        return md5


class Params(_Strict):
    data: DataParams
    vocab_size: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    truncate: Literal["head", "tail"]
    val_fraction: float = Field(gt=0, lt=1)
    seed: int = Field(ge=0)
    archs: list[str] = Field(min_length=1)
    embed_dim: int = Field(gt=0)
    hidden: int = Field(gt=0)
    pooling: Literal["mean", "masked_mean", "last"]
    loss: Literal[LOSSES]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    trim_batches: bool
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]

    @field_validator("archs")
    @classmethod
    def _known_unique_archs(cls, archs: list[str]) -> list[str]:
        unknown = [arch for arch in archs if arch not in ARCHS]
        if unknown:
            raise ValueError(f"unknown architecture {', '.join(unknown)}; choose from {', '.join(ARCHS)}")
        if len(set(archs)) != len(archs):
            raise ValueError("an architecture is listed twice")
        return archs


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}' (allowed: {', '.join(Params.model_fields)}; under data: url, md5)"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    return f"'{key}' = {error['input']!r}: {message}"


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate the params file; raise StageError listing every wrong key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} not found: run the stage from the project root") from None
    except yaml.YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        problems = "\n  ".join(_describe(e) for e in error.errors())
        raise StageError(f"invalid {path}:\n  {problems}\nFix the value in {path} or in your -S option.") from None
