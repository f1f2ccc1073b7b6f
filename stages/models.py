"""The recurrent sentiment classifiers: torch's RNN/LSTM/GRU, hand-written twins, and the model around them.

Every recurrent layer maps x of shape (T, B, input_size) to all its hidden states, (T, B, hidden_size),
starting from h_0 = c_0 = 0. The hand-written layers keep torch's parameter layout (names, shapes, gate
order, init), so weights copy 1:1 from nn.RNN/nn.LSTM/nn.GRU and the outputs can be checked against them.

Each hand-written layer runs the whole sequence in one torch.autograd.Function:
  forward:  the input projection of all T steps is one matrix product; a Python loop over t then does
            only the recurrence, one h_{t-1} @ W_hh^T per step plus a few fused, in-place elementwise ops.
  backward: backpropagation through time by hand; a reverse loop finds each step's gate gradients and
            dh_{t-1}, and the gradients of x, W_ih, W_hh and the biases are then one product or sum over
            all T steps at once.
At these sizes (B = H = 64) each op in the loops costs a few microseconds of Python and dispatch overhead,
about as much as its arithmetic, so the loops use as few ops as possible: outputs go into preallocated
buffers, the derivative factors that do not depend on the incoming gradient are prepared outside the
reverse loop (vectorised over a block of steps), and the gradient buffers are laid out so that several
gates come out of one multiplication.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

POOLINGS = ("mean", "masked_mean", "last")
# The LSTM and GRU backward passes prepare the derivative factors of this many steps at a time, into one
# small buffer that stays in cache, instead of (T, B, 4H) tensors for the whole sequence.
BLOCK = 16


def _regroup(tensor: Tensor, order: tuple[int, ...]) -> Tensor:
    """Reorder the gate blocks (equal slices of dim 0) of a weight, a bias or their gradient."""
    return tensor.unflatten(0, (len(order), -1))[list(order)].flatten(0, 1)


def _sigmoid_grad(s: Tensor, out: Tensor) -> Tensor:
    """s (1 - s), the sigmoid's derivative where it equals s, written into out (no temporaries)."""
    return torch.addcmul(s, s, s, value=-1, out=out)


def _tanh_grad(t: Tensor, out: Tensor) -> Tensor:
    """1 - t^2, tanh's derivative where it equals t, written into out (no temporaries)."""
    return torch.addcmul(t.new_ones(()), t, t, value=-1, out=out)


def _blocks(T: int) -> list[tuple[int, int]]:
    """(start, stop) of the blocks of at most BLOCK steps that cover 0..T-1, the last block first."""
    return [(max(stop - BLOCK, 0), stop) for stop in range(T, 0, -BLOCK)]


def _previous_states(out: Tensor) -> list[Tensor]:
    """[h_0 = 0, h_1, ..., h_T] as views: element t is the state that step t (0-based) starts from."""
    return [out.new_zeros(out.shape[1:]), *out.unbind(0)]


def _grads(ctx: FunctionCtx, x: Tensor, w_ih: Tensor, out: Tensor, d_x: Tensor, d_h: Tensor | None = None) -> tuple:
    """The gradients of (x, W_ih, W_hh, b_ih, b_hh), None where not needed, from those of all steps' gates.

    d_x (T, B, G) is the gradient of x_t W_ih^T + b_ih and d_h that of h_{t-1} W_hh^T + b_hh, gates in the
    order of the rows of w_ih and W_hh; d_h = None means d_h = d_x (the RNN and the LSTM add the two up).
    dx_t = d_x,t W_ih;  dW_ih = sum_t d_x,t^T x_t;  dW_hh = sum_t d_h,t^T h_{t-1} (h_0 = 0: step 0 adds
    nothing);  db_ih = sum_t d_x,t;  db_hh = sum_t d_h,t.
    """
    need_x, need_w_ih, need_w_hh, need_b_ih, need_b_hh = ctx.needs_input_grad
    B = x.shape[1]
    shared = d_h is None
    d_x = d_x.flatten(0, 1)
    d_h = d_x if shared else d_h.flatten(0, 1)
    grad_x = (d_x @ w_ih).view_as(x) if need_x else None
    grad_w_ih = d_x.t() @ x.flatten(0, 1) if need_w_ih else None
    grad_w_hh = d_h[B:].t() @ out[:-1].flatten(0, 1) if need_w_hh else None
    grad_b_ih = d_x.sum(0) if need_b_ih else None
    if not need_b_hh:
        grad_b_hh = None
    elif shared and grad_b_ih is not None:
        grad_b_hh = grad_b_ih.clone()
    else:
        grad_b_hh = d_h.sum(0)
    return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


class RNNFunction(torch.autograd.Function):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) over a whole sequence; returns h_1..h_T."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        T, B, E = x.shape
        H = w_hh.shape[1]
        out = torch.addmm(b_ih + b_hh, x.reshape(T * B, E), w_ih.t()).view(T, B, H)
        w_hh_t = w_hh.t()
        h, h_prev = out.unbind(0), _previous_states(out)
        for t in range(T):
            h[t].addmm_(h_prev[t], w_hh_t).tanh_()
        ctx.save_for_backward(x, w_ih, w_hh, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        """da_t = (dL/dh_t + da_{t+1} W_hh) * (1 - h_t^2), da being the gradient of the pre-activation."""
        x, w_ih, w_hh, out = ctx.saved_tensors
        T, B, H = out.shape
        dtanh = _tanh_grad(out, torch.empty_like(out)).unbind(0)
        grad = grad_out.unbind(0)
        da = out.new_empty(T + 1, B, H)
        da[T].zero_()
        da_t = da.unbind(0)
        dh = out.new_empty(B, H)
        for t in reversed(range(T)):
            torch.addmm(grad[t], da_t[t + 1], w_hh, out=dh)
            torch.mul(dh, dtanh[t], out=da_t[t])
        return _grads(ctx, x, w_ih, out, da[:T])


class LSTMFunction(torch.autograd.Function):
    """An LSTM over a whole sequence; returns h_1..h_T.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), split in four;
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        T, B, E = x.shape
        H = w_hh.shape[1]
        # tanh(a) = 2 sigmoid(2a) - 1: with the rows of g doubled, one sigmoid_ per step serves all four
        # gates (torch's sigmoid is also about three times faster than its tanh on CPU); g's columns then
        # hold (g + 1) / 2 until the loop is done.
        double_g = x.new_tensor([1, 1, 2, 1]).repeat_interleave(H)
        gates = torch.addmm((b_ih + b_hh) * double_g, x.reshape(T * B, E), w_ih.t() * double_g).view(T, B, 4 * H)
        w_hh_t = w_hh.t() * double_g
        out = x.new_empty(T, B, H)
        c = x.new_empty(T + 1, B, H)
        c[0].zero_()
        tanh_c = x.new_empty(T, B, H)
        # Per-step views, made once: indexing a list is far cheaper than indexing a tensor.
        pre, (i, f, g, o) = gates.unbind(0), (gate.unbind(0) for gate in gates.split(H, 2))
        h, h_prev, c_t, tanh_c_t = out.unbind(0), _previous_states(out), c.unbind(0), tanh_c.unbind(0)
        for t in range(T):
            pre[t].addmm_(h_prev[t], w_hh_t).sigmoid_()
            torch.mul(f[t], c_t[t], out=c_t[t + 1])
            c_t[t + 1].addcmul_(i[t], g[t], value=2).sub_(i[t])  # + i * g
            torch.tanh(c_t[t + 1], out=tanh_c_t[t])
            torch.mul(o[t], tanh_c_t[t], out=h[t])
        gates[..., 2 * H : 3 * H].mul_(2).sub_(1)  # g itself, for backward
        ctx.save_for_backward(x, w_ih, w_hh, gates, c, tanh_c, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        """Per step, with dh_t = dL/dh_t + dgates_{t+1} W_hh and dc_t = dh_t o (1 - tanh^2 c_t) + dc_{t+1} f_{t+1}:

        di = dc_t g i(1-i),  df = dc_t c_{t-1} f(1-f),  dg = dc_t i (1-g^2),  do = dh_t tanh(c_t) o(1-o),
        all four being gradients of the pre-activations.
        """
        x, w_ih, w_hh, gates, c, tanh_c, out = ctx.saved_tensors
        T, B, H = out.shape
        i, f, g, o = gates.split(H, 2)
        # Columns of d: dc_t f_t (step t's part of dc_{t-1}), then di, df, dg, do, the gate gradients in
        # torch's order. So one multiplication per step gives the first four. Row T is zero: nothing flows
        # back from after the last step.
        d = out.new_empty(T + 1, B, 5 * H)
        d[T].zero_()
        dgates = d[..., H:]
        dgates_t, dc_carry = dgates.unbind(0), d[..., :H].unbind(0)
        d_c_ifg, d_o = d[..., : 4 * H].unflatten(2, (4, H)).unbind(0), d[..., 4 * H :].unbind(0)
        grad = grad_out.unbind(0)
        dh, dc = out.new_empty(B, H), out.new_empty(B, H)
        dc_col = dc.unsqueeze(1)
        # What dh_t multiplies (to give its part of dc_t, and do), and what dc_t multiplies (to give its
        # part of dc_{t-1}, and di, df, dg), for one block of steps.
        dh_to_block, dc_to_block = out.new_empty(BLOCK, B, 2, H), out.new_empty(BLOCK, B, 4, H)
        for start, stop in _blocks(T):
            steps = slice(start, stop)
            dh_to, dc_to = dh_to_block[: stop - start], dc_to_block[: stop - start]
            _tanh_grad(tanh_c[steps], dh_to[:, :, 0]).mul_(o[steps])  # o (1 - tanh^2 c_t)
            _sigmoid_grad(o[steps], dh_to[:, :, 1]).mul_(tanh_c[steps])  # tanh(c_t) o(1-o)
            dc_to[:, :, 0].copy_(f[steps])
            _sigmoid_grad(i[steps], dc_to[:, :, 1]).mul_(g[steps])  # g i(1-i)
            _sigmoid_grad(f[steps], dc_to[:, :, 2]).mul_(c[steps])  # c_{t-1} f(1-f)
            _tanh_grad(g[steps], dc_to[:, :, 3]).mul_(i[steps])  # i (1-g^2)
            dh_to_dc, dh_to_do = (factor.unbind(0) for factor in dh_to.unbind(2))
            dc_to = dc_to.unbind(0)
            for t in reversed(range(start, stop)):
                k = t - start
                torch.addmm(grad[t], dgates_t[t + 1], w_hh, out=dh)
                torch.addcmul(dc_carry[t + 1], dh, dh_to_dc[k], out=dc)
                torch.mul(dc_col, dc_to[k], out=d_c_ifg[t])
                torch.mul(dh, dh_to_do[k], out=d_o[t])
        return _grads(ctx, x, w_ih, out, dgates[:T])


class GRUFunction(torch.autograd.Function):
    """A GRU over a whole sequence, in torch's form; returns h_1..h_T.

    r, z = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr), sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz);
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn));  h_t = (1 - z) * n + z * h_{t-1}.

    The report writes the candidate as n = tanh(W [r * h_{t-1}, x_t] + b) (Cho et al., reset applied
    before the product). We use torch's "reset after" form instead: it makes the layer checkable against
    nn.GRU weight for weight, and it is the faster one, because h_{t-1} W_hh^T no longer depends on r and
    so is one matrix product per step for all three gates, not one for r, z and then another for n.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        T, B, E = x.shape
        H = w_hh.shape[1]
        # b_hr and b_hz join the input projection; b_hn must stay inside r * (W_hn h + b_hn).
        zeros = b_hh.new_zeros(H)
        bias_x = b_ih + torch.cat((b_hh[: 2 * H], zeros))
        bias_h = torch.cat((zeros, zeros, b_hh[2 * H :]))
        gates = torch.addmm(bias_x, x.reshape(T * B, E), w_ih.t()).view(T, B, 3 * H)
        hidden = x.new_empty(T, B, 3 * H)  # h_{t-1} W_hh^T + (0, 0, b_hn)
        out = x.new_empty(T, B, H)
        w_hh_t = w_hh.t()
        rz, (r, z, n) = gates[..., : 2 * H].unbind(0), gates.split(H, 2)
        r, z, n = r.unbind(0), z.unbind(0), n.unbind(0)
        hidden_t, hidden_rz, hidden_n = hidden.unbind(0), hidden[..., : 2 * H].unbind(0), hidden[..., 2 * H :].unbind(0)
        h, h_prev = out.unbind(0), _previous_states(out)
        for t in range(T):
            torch.addmm(bias_h, h_prev[t], w_hh_t, out=hidden_t[t])
            rz[t].add_(hidden_rz[t]).sigmoid_()
            n[t].addcmul_(r[t], hidden_n[t]).tanh_()
            torch.lerp(n[t], h_prev[t], z[t], out=h[t])
        ctx.save_for_backward(x, w_ih, w_hh, gates, hidden, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        """Per step, with dh_t = dL/dh_t + dh_{t+1} z_{t+1} + (dr, dz, dn_h)_{t+1} W_hh:

        dn_x = dh_t (1-z)(1-n^2),  dz = dh_t (h_{t-1} - n) z(1-z),  dr = dn_x (W_hn h_{t-1} + b_hn) r(1-r),
        dn_h = dn_x r;  dn_x is the gradient of W_in x_t + b_in, dn_h that of W_hn h_{t-1} + b_hn.
        """
        x, w_ih, w_hh, gates, hidden, out = ctx.saved_tensors
        T, B, H = out.shape
        r, z, n = gates.split(H, 2)
        # Columns of d: dn_x, dr, dz, dn_h. The last three are the gradient of h_{t-1} W_hh^T + b_hh (in
        # torch's order r, z, n); seen as (2, 2, H) blocks, (dn_x, dz) and (dr, dn_h) are each one
        # strided view, so each pair comes out of one multiplication. Row T is zero.
        d = out.new_empty(T + 1, B, 4 * H)
        d[T].zero_()
        pairs = d.unflatten(2, (2, 2, H))
        d_hidden, d_nx_z, d_r_nh = d[..., H:].unbind(0), pairs[..., 0, :].unbind(0), pairs[..., 1, :].unbind(0)
        dn_x = pairs[:, :, :1, 0, :].unbind(0)
        z_next = [*z.unbind(0)[1:], z.new_zeros(B, H)]
        grad = grad_out.unbind(0)
        dh = out.new_zeros(B, H)
        dh_col = dh.unsqueeze(1)
        # What dh_t multiplies to give dn_x and dz, and what dn_x multiplies to give dr and dn_h, for one
        # block of steps.
        dh_to_block, dn_x_to_block = out.new_empty(BLOCK, B, 2, H), out.new_empty(BLOCK, B, 2, H)
        for start, stop in _blocks(T):
            steps = slice(start, stop)
            dh_to, dn_x_to = dh_to_block[: stop - start], dn_x_to_block[: stop - start]
            to_n, to_z = dh_to.unbind(2)
            _tanh_grad(n[steps], to_n).addcmul_(to_n, z[steps], value=-1)  # (1-z)(1-n^2)
            h_prev = out[start - 1 : stop - 1] if start else torch.cat((out.new_zeros(1, B, H), out[: stop - 1]))
            torch.sub(h_prev, n[steps], out=to_z).mul_(z[steps]).addcmul_(to_z, z[steps], value=-1)
            _sigmoid_grad(r[steps], dn_x_to[:, :, 0]).mul_(hidden[steps, :, 2 * H :])  # (W_hn h + b_hn) r(1-r)
            dn_x_to[:, :, 1].copy_(r[steps])
            dh_to, dn_x_to = dh_to.unbind(0), dn_x_to.unbind(0)
            for t in reversed(range(start, stop)):
                k = t - start
                torch.addcmul(grad[t], dh, z_next[t], out=dh)
                dh.addmm_(d_hidden[t + 1], w_hh)
                torch.mul(dh_col, dh_to[k], out=d_nx_z[t])
                torch.mul(dn_x[t], dn_x_to[k], out=d_r_nh[t])
        # The input side sees the columns as (n, r, z): regroup W_ih to match, and the results back.
        grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = _grads(
            ctx, x, _regroup(w_ih, (2, 0, 1)), out, d[:T, :, : 3 * H], d[:T, :, H:]
        )
        if grad_w_ih is not None:
            grad_w_ih = _regroup(grad_w_ih, (1, 2, 0))
        if grad_b_ih is not None:
            grad_b_ih = _regroup(grad_b_ih, (1, 2, 0))
        return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


class _ManualRecurrence(nn.Module):
    """A one-layer recurrent layer whose whole sequence is one autograd Function; parameters as nn.*Cell."""

    function: type[torch.autograd.Function]
    num_gates: int

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        gates = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(gates))
        self.bias_hh = nn.Parameter(torch.empty(gates))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch does."""
        bound = 1 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """x (T, B, input_size) -> h_1..h_T (T, B, hidden_size)."""
        return self.function.apply(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class ManualRNN(_ManualRecurrence):
    function, num_gates = RNNFunction, 1


class ManualLSTM(_ManualRecurrence):
    function, num_gates = LSTMFunction, 4


class ManualGRU(_ManualRecurrence):
    function, num_gates = GRUFunction, 3


class TorchRNN(nn.RNN):
    """nn.RNN (tanh, one layer, time-major) returning only its outputs."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


class TorchLSTM(nn.LSTM):
    """nn.LSTM (one layer, time-major) returning only its outputs."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


class TorchGRU(nn.GRU):
    """nn.GRU (one layer, time-major) returning only its outputs."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


@dataclass(frozen=True)
class Architecture:
    """One entry of the registry: the recurrent layer, and torch's layer it must match (hand-written ones).

    `layer(input_size, hidden_size)` maps x (T, B, input_size) to all its states (T, B, hidden_size).
    """

    layer: Callable[[int, int], nn.Module]
    twin: str | None = None


# The registry: the only list of architectures. params.yaml's `archs`, the stages, the benchmark and
# the tests all take their names from here, so adding an architecture is one entry.
ARCHITECTURES: dict[str, Architecture] = {
    "rnn": Architecture(TorchRNN),
    "lstm": Architecture(TorchLSTM),
    "gru": Architecture(TorchGRU),
    "rnn_manual": Architecture(ManualRNN, twin="rnn"),
    "lstm_manual": Architecture(ManualLSTM, twin="lstm"),
    "gru_manual": Architecture(ManualGRU, twin="gru"),
}


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
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch {self.arch!r}; choose from {', '.join(ARCHITECTURES)}")
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
        self.recurrent = ARCHITECTURES[config.arch].layer(config.embed_dim, config.hidden)
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
