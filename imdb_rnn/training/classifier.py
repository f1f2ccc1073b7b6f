"""The sentiment classifier around a recurrent layer: embedding, the layer picked by name, pooling, head.

The model is the same for every architecture; only its recurrent layer (imdb_rnn/architectures/) changes.
"""

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from imdb_rnn import architectures

POOLINGS = ("mean", "masked_mean", "last")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes a classifier: built from the params, saved in the checkpoint, rebuilt from it."""

    arch: str
    vocab_size: int
    embed_dim: int
    hidden: int
    pooling: str
    dropout: float = 0.5

    def __post_init__(self) -> None:
        architectures.check_name(self.arch)
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose from {', '.join(POOLINGS)}")

    @classmethod
    def from_params(cls, arch: str, vocab_size: int, params: object) -> "ModelConfig":
        """The config of `arch`, every other field read from the params attribute of the same name."""
        named = {field.name: getattr(params, field.name) for field in fields(cls) if hasattr(params, field.name)}
        return cls(**{**named, "arch": arch, "vocab_size": vocab_size})


class SentimentClassifier(nn.Module):
    """Embedding -> recurrent layer -> pooling over time -> Linear -> ReLU -> Dropout -> Linear (2 logits)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.recurrent = architectures.load(config.arch).layer(config.embed_dim, config.hidden)
        self.head = nn.Sequential(
            nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, 2)
        )

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids (B, T), right-padded with 0, and lengths (B,) -> logits (B, 2)."""
        states = self.recurrent(self.embedding(ids.t()))  # (T, B, hidden); ids.t() is a view, not a copy
        return self.head(self.pool(states, lengths))

    def pool(self, states: Tensor, lengths: Tensor) -> Tensor:
        """(T, B, H) -> (B, H).

        mean: over all T steps, padding included (as in the report); masked_mean: over each review's first
        lengths[b] steps; last: the state at step lengths[b] - 1. Lengths are clamped to [1, T], so an empty
        review reads as its first (padding) step.
        """
        pooling = self.config.pooling
        if pooling == "mean":
            return states.mean(0)
        T, B, _ = states.shape
        lengths = lengths.to(states.device).clamp(1, T)
        if pooling == "last":
            return states[lengths - 1, torch.arange(B, device=states.device)]
        mask = torch.arange(T, device=states.device).unsqueeze(1) < lengths  # (T, B)
        return (states * mask.unsqueeze(2)).sum(0) / lengths.unsqueeze(1)
