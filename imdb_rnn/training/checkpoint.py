"""A trained model in one self-contained file: weights, model config, vocabulary and encoding.

`predict` needs nothing but this file; `evaluate` also checks that the vocabulary in it is the
one the test split was encoded with.
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from imdb_rnn.core.common import StageError
from imdb_rnn.training.classifier import ModelConfig, SentimentClassifier

FORMAT = "imdb-rnn-classifier/2"  # changes whenever the layout below does
FORMAT_1 = "imdb-rnn-classifier/1"  # one layer, one direction: read as format 2 (upgrade_format_1)


@dataclass(frozen=True)
class Checkpoint:
    config: ModelConfig
    seed: int
    best_epoch: int  # the epoch with the best validation accuracy, whose weights `state_dict` holds
    best_val_acc: float
    vocab: list[str]  # a token's id is its position
    seq_len: int | None  # tokens kept per review (None: all)
    truncate: str
    state_dict: dict[str, torch.Tensor]
    final_state_dict: dict[str, torch.Tensor]  # the last epoch's weights (the report's protocol)

    def model(self, final: bool = False) -> SentimentClassifier:
        """The classifier in eval mode, on the CPU: the best-validation epoch, or with `final` the last."""
        model = SentimentClassifier(self.config)
        model.load_state_dict(self.final_state_dict if final else self.state_dict)
        return model.eval()


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    content = {**asdict(checkpoint), "config": asdict(checkpoint.config), "format": FORMAT}
    torch.save(content, path)


def _restore_hint(path: Path) -> str:
    return (
        f"restore it with `dvc checkout {path}` or `dvc pull {path}`, or retrain it with `dvc repro` "
        "(a model file is written by the stage train@<arch>-<seed>)"
    )


def format_1_key(key: str) -> str:
    """A weight's name in a format-1 state_dict -> its name in format 2 (the one recurrent layer is layer 0's forward)."""
    return re.sub(r"^recurrent\.", "recurrent.0.0.", key)


def upgrade_format_1(content: dict) -> dict:
    """A format-1 checkpoint (the study's model before layers and directions were params) in format 2.

    Its `dropout` is the head's; its other new config fields take their defaults, which are its model.
    """
    config = {("head_dropout" if key == "dropout" else key): value for key, value in content["config"].items()}
    weights = {
        name: {format_1_key(key): tensor for key, tensor in content[name].items()}
        for name in ("state_dict", "final_state_dict")
    }
    return {**content, **weights, "config": config, "format": FORMAT}


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at `path`; StageError naming the file if it is missing, damaged or not one of ours."""
    if not path.is_file():
        raise StageError(f"model file {path} not found: {_restore_hint(path)}")
    try:  # weights_only: a file from elsewhere can hold data, never code
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types on a damaged file (KeyError, EOFError, RuntimeError, ...)
        raise StageError(
            f"model file {path} is damaged or not a torch file ({type(error).__name__}: {error}): {_restore_hint(path)}"
        ) from None
    found = content.get("format") if isinstance(content, dict) else type(content).__name__
    if found not in (FORMAT, FORMAT_1):
        raise StageError(
            f"{path} is not a model file of this project (format {found!r}, expected {FORMAT!r}): "
            f"pass a file that train@<arch>-<seed> wrote, or {_restore_hint(path)}"
        )
    try:
        if found == FORMAT_1:
            content = upgrade_format_1(content)
        content.pop("format")
        checkpoint = Checkpoint(**{**content, "config": ModelConfig(**content["config"])})
        checkpoint.model()  # the weights must fit the config
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError) as error:
        raise StageError(f"model file {path} is incomplete or inconsistent ({error}): {_restore_hint(path)}") from None
    return checkpoint
