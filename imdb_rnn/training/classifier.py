"""The sentiment classifier around a recurrent layer: embedding, the layers picked by name, pooling, head.

The model is the same for every architecture; only its recurrent layer (imdb_rnn/architectures/) changes.
Stacking, the backward direction and dropout are the classifier's, so every architecture, hand-written
or torch's, gets each of them the same way.
"""

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from imdb_rnn import architectures

POOLINGS = ("mean", "masked_mean", "last", "max", "mean_max")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes a classifier: built from the params, saved in the checkpoint, rebuilt from it.

    The defaults of the fields after `pooling` are the study's model, so a checkpoint saved before they
    existed loads as the model it was.
    """

    arch: str
    vocab_size: int
    embed_dim: int
    hidden: int
    pooling: str
    head_dropout: float = 0.5
    layers: int = 1
    bidirectional: bool = False
    embedding_dropout: float = 0.0
    layer_dropout: float = 0.0

    def __post_init__(self) -> None:
        architectures.check_name(self.arch)
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose from {', '.join(POOLINGS)}")

    @classmethod
    def from_params(cls, arch: str, vocab_size: int, params: object) -> "ModelConfig":
        """The config of `arch`, every other field read from the params attribute of the same name."""
        named = {field.name: getattr(params, field.name) for field in fields(cls) if hasattr(params, field.name)}
        return cls(**{**named, "arch": arch, "vocab_size": vocab_size})

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


def dropout(p: float) -> nn.Module:
    """Dropout with probability `p`, or nothing at 0 (which draws no random numbers, so the defaults train as before)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def reverse_each(x: Tensor, lengths: Tensor) -> Tensor:
    """(T, B, F) -> each review's first lengths[b] steps in reverse order, its padding left where it was.

    Its own inverse. A layer run on the result reads each review from its own last token, never from padding.
    """
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    return x.gather(0, source.unsqueeze(2).expand_as(x))


class SentimentClassifier(nn.Module):
    """Embedding -> Dropout -> recurrent layers -> pooling over time -> Linear -> ReLU -> Dropout -> Linear (2 logits).

    `recurrent[l][d]` is layer l's forward (d = 0) or backward (d = 1) recurrent layer; layer l + 1 reads
    both directions' states side by side, through the between-layers dropout.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        layer = architectures.load(config.arch).layer
        states = config.hidden * config.directions
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.embedding_dropout = dropout(config.embedding_dropout)
        self.recurrent = nn.ModuleList(
            nn.ModuleList(layer(states if index else config.embed_dim, config.hidden) for _ in range(config.directions))
            for index in range(config.layers)
        )
        self.layer_dropout = dropout(config.layer_dropout)
        pooled = states * (2 if config.pooling == "mean_max" else 1)
        self.head = nn.Sequential(
            nn.Linear(pooled, config.hidden), nn.ReLU(), dropout(config.head_dropout), nn.Linear(config.hidden, 2)
        )

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids (B, T), right-padded with 0, and lengths (B,) -> logits (B, 2)."""
        lengths = lengths.to(ids.device).clamp(1, ids.shape[1])  # an empty review reads as its first (padding) step
        return self.head(self.pool(self.states(ids, lengths), lengths))

    def states(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """The last layer's states, (T, B, hidden * directions), the backward direction's second."""
        x = self.embedding_dropout(self.embedding(ids.t()))  # ids.t() is a view, not a copy
        for index, (forward_layer, *backward) in enumerate(self.recurrent):
            if index:
                x = self.layer_dropout(x)
            outputs = [forward_layer(x)] + [
                reverse_each(layer(reverse_each(x, lengths)), lengths) for layer in backward
            ]
            x = torch.cat(outputs, 2) if backward else outputs[0]
        return x

    def pool(self, states: Tensor, lengths: Tensor) -> Tensor:
        """(T, B, D) -> (B, D), or (B, 2D) for mean_max.

        mean: over all T steps, padding included (as in the report); masked_mean and max: over each
        review's first lengths[b] steps; mean_max: both, side by side; last: the state after the whole
        review, which is step lengths[b] - 1 forward and step 0 backward.
        """
        pooling = self.config.pooling
        if pooling == "mean":
            return states.mean(0)
        T, B, _ = states.shape
        if pooling == "last":
            last = states[lengths - 1, torch.arange(B, device=states.device)]
            if self.config.bidirectional:
                last = torch.cat([last[:, : self.config.hidden], states[0, :, self.config.hidden :]], 1)
            return last
        mask = (torch.arange(T, device=states.device).unsqueeze(1) < lengths).unsqueeze(2)  # (T, B, 1)
        pooled = []
        if pooling in ("masked_mean", "mean_max"):
            pooled.append((states * mask).sum(0) / lengths.unsqueeze(1))
        if pooling in ("max", "mean_max"):
            pooled.append(states.masked_fill(~mask, -torch.inf).amax(0))
        return torch.cat(pooled, 1) if len(pooled) > 1 else pooled[0]
