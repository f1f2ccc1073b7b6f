"""The report's model and loops, written plainly, as the baseline that bench.speed times the project's code against.

The model is a batch-first `Embedding -> recurrent -> mean over all T steps -> Linear -> ReLU -> Dropout
-> Linear`; it trains on batches in random order at the full padded length and is evaluated under
torch.no_grad. For the `*_manual` architectures its recurrent layer is the report's naive hand-written
cell: a Python loop over time steps, one nn.Linear per gate on torch.cat([h, x_t]), autograd doing the
backward. An architecture that the report did not have runs its registered layer
(imdb_rnn/architectures/) in this model.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imdb_rnn import architectures


class NaiveRNN(nn.Module):
    """The report's hand-written RNN: h_t = tanh(W [h_{t-1}, x_t] + b), a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(hidden_size + input_size, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            h = torch.tanh(self.linear(torch.cat([h, x[:, t]], dim=1)))
            states.append(h)
        return torch.stack(states, dim=1)


class NaiveLSTM(nn.Module):
    """The report's hand-written LSTM: one nn.Linear per gate on [h_{t-1}, x_t], a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.forget, self.input, self.candidate, self.output = (
            nn.Linear(hidden_size + input_size, hidden_size) for _ in range(4)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            hx = torch.cat([h, x[:, t]], dim=1)
            f = torch.sigmoid(self.forget(hx))
            i = torch.sigmoid(self.input(hx))
            candidate = torch.tanh(self.candidate(hx))
            o = torch.sigmoid(self.output(hx))
            c = f * c + i * candidate
            h = o * torch.tanh(c)
            states.append(h)
        return torch.stack(states, dim=1)


class NaiveGRU(nn.Module):
    """The report's hand-written GRU (reset before the product), one nn.Linear per gate, a Python loop over t."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.update, self.reset, self.candidate = (nn.Linear(hidden_size + input_size, hidden_size) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, input_size) -> h_1..h_T (B, T, hidden_size)."""
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for t in range(x.shape[1]):
            x_t = x[:, t]
            hx = torch.cat([h, x_t], dim=1)
            z = torch.sigmoid(self.update(hx))
            r = torch.sigmoid(self.reset(hx))
            candidate = torch.tanh(self.candidate(torch.cat([r * h, x_t], dim=1)))
            h = z * h + (1 - z) * candidate
            states.append(h)
        return torch.stack(states, dim=1)


class BatchFirst(nn.Module):
    """A torch recurrent layer built batch first, returning only its outputs (B, T, hidden_size)."""

    def __init__(self, layer: nn.RNNBase) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)[0]


class TimeMajor(nn.Module):
    """A registered layer (time-major, as the project runs it) of an architecture the report lacked, run batch first."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x.transpose(0, 1)).transpose(0, 1)


# The report's own layers, by architecture name.
REFERENCE_LAYERS: dict[str, Callable[[int, int], nn.Module]] = {
    "rnn": lambda embed_dim, hidden: BatchFirst(nn.RNN(embed_dim, hidden, batch_first=True)),
    "lstm": lambda embed_dim, hidden: BatchFirst(nn.LSTM(embed_dim, hidden, batch_first=True)),
    "gru": lambda embed_dim, hidden: BatchFirst(nn.GRU(embed_dim, hidden, batch_first=True)),
    "rnn_manual": NaiveRNN,
    "lstm_manual": NaiveLSTM,
    "gru_manual": NaiveGRU,
}


def reference_layer(arch: str, embed_dim: int, hidden: int) -> nn.Module:
    """The report's layer for `arch`, or the registered one run batch first if the report did not have it."""
    if arch in REFERENCE_LAYERS:
        return REFERENCE_LAYERS[arch](embed_dim, hidden)
    return TimeMajor(architectures.load(arch).layer(embed_dim, hidden))


class ReferenceClassifier(nn.Module):
    """The report's model: Embedding -> recurrent -> mean over all T steps -> Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, arch: str, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.recurrent = reference_layer(arch, embed_dim, hidden)
        self.linear1 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.5)
        self.linear2 = nn.Linear(hidden, 2)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, T) -> logits (B, 2)."""
        states = self.recurrent(self.embedding(ids)).mean(dim=1)
        return self.linear2(self.dropout(F.relu(self.linear1(states))))


def reference_train_epoch(
    model: nn.Module,
    split: dict[str, Tensor],
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    generator: torch.Generator,
) -> float:
    """One epoch of the report's loop, random-order batches at full length; returns the mean loss."""
    model.train()
    ids, labels = split["ids"], split["labels"]
    loss_sum = 0.0
    for rows in torch.randperm(len(labels), generator=generator).split(batch_size):
        loss = F.cross_entropy(model(ids[rows].long().to(device)), labels[rows].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(rows)
    return loss_sum / len(labels)


@torch.no_grad()
def reference_accuracy(model: nn.Module, data: list[tuple[Tensor, Tensor]], device: torch.device) -> float:
    """The report's test loop: accuracy over (ids, labels) batches, under torch.no_grad."""
    model.eval()
    correct, seen = 0, 0
    for ids, labels in data:
        correct += int((model(ids.to(device)).argmax(dim=1) == labels.to(device)).sum())
        seen += len(labels)
    return correct / seen
