"""The report's model, written plainly: the baseline that bench.speed times the project's code against (its loops are
bench/timing.py's reference_loops). The `*_manual` architectures get the report's naive cells; an architecture the
report did not have runs its registered layer."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imdb_rnn import architectures


class NaiveCell(nn.Module):
    """The report's hand-written cells: one nn.Linear per gate on [h_{t-1}, x_t], a Python loop over t, autograd doing
    the backward. A subclass names its GATES and defines `step(h, c, x_t) -> (h_t, c_t)` (c: the LSTM's cell state)."""

    GATES: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        for gate in self.GATES:
            setattr(self, gate, nn.Linear(hidden_size + input_size, hidden_size))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, input_size) -> (h_1..h_T (B, T, hidden_size), h_T), as torch's batch-first layers return."""
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            h, c = self.step(h, c, x[:, t])
            states.append(h)
        return torch.stack(states, dim=1), h


class NaiveRNN(NaiveCell):
    GATES = ("linear",)

    def step(self, h: Tensor, c: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.tanh(self.linear(torch.cat([h, x], dim=1))), c


class NaiveLSTM(NaiveCell):
    GATES = ("forget", "input", "candidate", "output")

    def step(self, h: Tensor, c: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        hx = torch.cat([h, x], dim=1)
        c = torch.sigmoid(self.forget(hx)) * c + torch.sigmoid(self.input(hx)) * torch.tanh(self.candidate(hx))
        return torch.sigmoid(self.output(hx)) * torch.tanh(c), c


class NaiveGRU(NaiveCell):
    """The reset gate applied before the candidate's product, as the report wrote it."""

    GATES = ("update", "reset", "candidate")

    def step(self, h: Tensor, c: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        hx = torch.cat([h, x], dim=1)
        z, r = torch.sigmoid(self.update(hx)), torch.sigmoid(self.reset(hx))
        return z * h + (1 - z) * torch.tanh(self.candidate(torch.cat([r * h, x], dim=1))), c


REFERENCE_LAYERS: dict[str, Callable[[int, int], nn.Module]] = {  # the report's own layers, by architecture
    "rnn": lambda embed_dim, hidden: nn.RNN(embed_dim, hidden, batch_first=True),
    "lstm": lambda embed_dim, hidden: nn.LSTM(embed_dim, hidden, batch_first=True),
    "gru": lambda embed_dim, hidden: nn.GRU(embed_dim, hidden, batch_first=True),
    "rnn_manual": NaiveRNN,
    "lstm_manual": NaiveLSTM,
    "gru_manual": NaiveGRU,
}


class ReferenceClassifier(nn.Module):
    """The report's model: Embedding -> recurrent -> mean over all T steps -> Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, arch: str, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.time_major = arch not in REFERENCE_LAYERS  # the registered layer of an architecture the report lacked
        build = architectures.load(arch).layer if self.time_major else REFERENCE_LAYERS[arch]
        self.recurrent = build(embed_dim, hidden)
        self.linear1 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.5)
        self.linear2 = nn.Linear(hidden, 2)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, T) -> logits (B, 2)."""
        x = self.embedding(ids)
        if self.time_major:
            states = self.recurrent(x.transpose(0, 1)).mean(dim=0)
        else:
            states = self.recurrent(x)[0].mean(dim=1)
        return self.linear2(self.dropout(F.relu(self.linear1(states))))
