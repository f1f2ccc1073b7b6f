"""What the hand-written recurrent layers share: a base module, and the building blocks of their BPTT kernels.

Each hand-written layer (rnn_manual, lstm_manual, gru_manual in imdb_rnn/architectures/) runs the whole
sequence in one torch.autograd.Function:
  forward:  blocks of BLOCK steps: the input projection of a block's steps is one matrix product, written
            just before the block's steps read it, so it is still in cache; a Python loop over t then
            does only the recurrence, one h_{t-1} @ W_hh^T per step plus a few fused, in-place
            elementwise ops. Every tanh is computed as 2 sigmoid(2a) - 1, with the weights of its rows
            doubled: torch's sigmoid is about six times faster than its tanh on CPU.
  backward: backpropagation through time by hand; a reverse loop finds each step's gate gradients and
            dh_{t-1} in blocks of BLOCK steps, and the gradients of x, W_ih, W_hh and the biases are then
            one product or sum over all the block's steps at once (`InputGrads`), while its gate
            gradients are still in cache.
Without gradients to compute (evaluation), the same forward loop keeps nothing for backward: its gates
go into one block's buffer, reused for every block, and its other per-step buffers into one row each
(`per_step`), so nothing of size T x B leaves the cache but the outputs.
At these sizes (B = H = 64) each op in the loops costs a few microseconds of Python and dispatch overhead,
about as much as its arithmetic, so the loops use as few ops as possible: outputs go into preallocated
buffers, the derivative factors that do not depend on the incoming gradient are prepared outside the
reverse loop (vectorised over a block of steps), and the gradient buffers are laid out so that several
gates come out of one multiplication. The layers keep torch's parameter layout (names, shapes, gate
order, init), so weights copy 1:1 from nn.RNN/nn.LSTM/nn.GRU and the outputs can be checked against them.
On a CUDA GPU the same loops run as CUDA graphs (imdb_rnn/training/cuda_graphs.py).
"""

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from imdb_rnn.training.cuda_graphs import GRAPHS

# The LSTM and GRU backward passes prepare the derivative factors of this many steps at a time, into one
# small buffer that stays in cache, instead of (T, B, 4H) tensors for the whole sequence.
BLOCK = 16
# The forward pass projects the inputs of as many steps at a time as fill this many floats (1 MiB, a core's
# L2 cache on the build machine): 16 steps of an LSTM at B = H = 64, one step at B = 1024.
FORWARD_BLOCK_FLOATS = 2**18


def regroup(tensor: Tensor, order: tuple[int, ...]) -> Tensor:
    """Reorder the gate blocks (equal slices of dim 0) of a weight, a bias or their gradient."""
    gates = tensor.chunk(len(order))
    return torch.cat([gates[gate] for gate in order])


def doubled_gate(like: Tensor, hidden: int, gates: int, doubled: int) -> Tensor:
    """A column scale of `gates` blocks of `hidden` ones, block `doubled` twos: the rows whose tanh is 2 sigmoid(2a) - 1.

    Made on the device by fills alone (no copy from the host, which a CUDA graph cannot capture).
    """
    scale = like.new_ones(gates * hidden)
    scale[doubled * hidden : (doubled + 1) * hidden] = 2
    return scale


def sigmoid_grad(s: Tensor, out: Tensor) -> Tensor:
    """s (1 - s), the sigmoid's derivative where it equals s, written into out (no temporaries)."""
    return torch.addcmul(s, s, s, value=-1, out=out)


def tanh_grad(t: Tensor, out: Tensor) -> Tensor:
    """1 - t^2, tanh's derivative where it equals t, written into out (no temporaries)."""
    return torch.addcmul(t.new_ones(()), t, t, value=-1, out=out)


def forward_block(step_floats: int) -> int:
    """Steps per forward block, when a step's gates are `step_floats` floats (B times the number of gate columns)."""
    return max(1, FORWARD_BLOCK_FLOATS // step_floats)


def forward_blocks(T: int, steps: int) -> list[tuple[int, int]]:
    """(start, stop) of the blocks of at most `steps` steps that cover 0..T-1, in order."""
    return [(start, min(start + steps, T)) for start in range(0, T, steps)]


def step_rows(T: int, steps: int, for_backward: bool) -> int:
    """Rows of a forward buffer: one per step when backward needs them all, else one block's, reused."""
    return T if for_backward else min(steps, T)


def per_step(buffer: Tensor, T: int) -> list[Tensor]:
    """Step t's row of `buffer` for t = 0..T-1: row t if it has a row per step, else row t % rows (reused).

    Indexing a list is far cheaper than indexing a tensor, so the loops make these views once.
    """
    rows = buffer.unbind(0)
    return [rows[t % len(rows)] for t in range(T)]


def project(x: Tensor, start: int, stop: int, w_ih_t: Tensor, bias: Tensor, gates: Tensor) -> None:
    """x_t W_ih^T + bias of the steps start..stop-1 (a forward block), into their rows of gates (as per_step's)."""
    first = start % len(gates)
    torch.addmm(bias, x[start:stop].flatten(0, 1), w_ih_t, out=gates[first : first + stop - start].flatten(0, 1))


def blocks(T: int) -> list[tuple[int, int]]:
    """(start, stop) of the blocks of at most BLOCK steps that cover 0..T-1, the last block first."""
    return [(max(stop - BLOCK, 0), stop) for stop in range(T, 0, -BLOCK)]


def previous_states(out: Tensor) -> list[Tensor]:
    """[h_0 = 0, h_1, ..., h_T] as views: element t is the state that step t (0-based) starts from."""
    return [out.new_zeros(out.shape[1:]), *out.unbind(0)]


class InputGrads:
    """The gradients of (x, W_ih, W_hh, b_ih, b_hh), None where not needed, added up block by block.

    The reverse loop calls `add` as soon as it has a block's gate gradients, which are then still in
    cache: for the block's steps, d_x (steps, B, G) is the gradient of x_t W_ih^T + b_ih and d_h that of
    h_{t-1} W_hh^T + b_hh, gates in the order of the rows of w_ih and W_hh; d_h = None means d_h = d_x (the
    RNN and the LSTM add the two up).
    dx_t = d_x,t W_ih;  dW_ih = sum_t d_x,t^T x_t;  dW_hh = sum_t d_h,t^T h_{t-1} (h_0 = 0: step 0 adds
    nothing);  db_ih = sum_t d_x,t;  db_hh = sum_t d_h,t.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...], x: Tensor, w_ih: Tensor, out: Tensor) -> None:
        self.x, self.w_ih, self.out = x, w_ih, out
        need_x, need_w_ih, need_w_hh, need_b_ih, need_b_hh = needs_input_grad
        G, H = w_ih.shape[0], out.shape[2]
        self.grad_x = x.new_empty(x.shape) if need_x else None
        self.grad_w_ih = w_ih.new_zeros(w_ih.shape) if need_w_ih else None
        self.grad_w_hh = w_ih.new_zeros(G, H) if need_w_hh else None
        self.grad_b_ih = w_ih.new_zeros(G) if need_b_ih else None
        self.grad_b_hh = w_ih.new_zeros(G) if need_b_hh else None

    def add(self, start: int, stop: int, d_x: Tensor, d_h: Tensor | None = None) -> None:
        """Add the part of the steps start..stop-1, whose gate gradients are d_x and d_h."""
        B = self.x.shape[1]
        sum_x = d_x.sum((0, 1))
        sum_h = sum_x if d_h is None else d_h.sum((0, 1))
        d_x = d_x.flatten(0, 1)
        d_h = d_x if d_h is None else d_h.flatten(0, 1)
        if self.grad_x is not None:
            torch.mm(d_x, self.w_ih, out=self.grad_x[start:stop].flatten(0, 1))
        if self.grad_w_ih is not None:
            self.grad_w_ih.addmm_(d_x.t(), self.x[start:stop].flatten(0, 1))
        first = max(start, 1)  # h_0 = 0: step 0 adds nothing to dW_hh
        if self.grad_w_hh is not None and first < stop:
            self.grad_w_hh.addmm_(d_h[(first - start) * B :].t(), self.out[first - 1 : stop - 1].flatten(0, 1))
        if self.grad_b_ih is not None:
            self.grad_b_ih.add_(sum_x)
        if self.grad_b_hh is not None:
            self.grad_b_hh.add_(sum_h)

    def result(self) -> tuple:
        """(dx, dW_ih, dW_hh, db_ih, db_hh), as autograd wants them from backward."""
        return self.grad_x, self.grad_w_ih, self.grad_w_hh, self.grad_b_ih, self.grad_b_hh


class RecurrenceFunction(torch.autograd.Function):
    """One hand-written recurrent layer over a whole sequence, as an autograd Function.

    A subclass gives the two loops: `run(x, w_ih, w_hh, b_ih, b_hh, for_backward)` -> (h_1..h_T, what
    backward needs), and `gradients(needs_input_grad, *saved, h_1..h_T, dL/dh)` -> the inputs' gradients.
    """

    run: Callable[..., tuple]
    gradients: Callable[..., tuple]

    @classmethod
    def outputs(cls, *inputs: Tensor, for_backward: bool) -> tuple:
        """run(*inputs), as a CUDA graph on a GPU."""
        return GRAPHS(partial(cls.run, for_backward=for_backward), (cls, for_backward), *inputs)

    @classmethod
    def forward(cls, ctx: FunctionCtx, *inputs: Tensor) -> Tensor:
        out, saved = cls.outputs(*inputs, for_backward=True)
        ctx.save_for_backward(*saved, out)
        return out

    @classmethod
    @once_differentiable
    def backward(cls, ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        needs = tuple(ctx.needs_input_grad)
        return GRAPHS(partial(cls.gradients, needs), (cls, "backward", needs), *ctx.saved_tensors, grad_out)


class ManualRecurrence(nn.Module):
    """A one-layer recurrent layer whose whole sequence is one autograd Function; parameters as nn.*Cell."""

    function: type[RecurrenceFunction]
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
        """x (T, B, input_size) -> h_1..h_T (T, B, hidden_size).

        Without gradients to compute (inference_mode, no_grad, or nothing requiring grad), the pass keeps
        nothing for backward.
        """
        inputs = (x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if torch.is_grad_enabled() and any(tensor.requires_grad for tensor in inputs):
            return self.function.apply(*inputs)
        return self.function.outputs(*inputs, for_backward=False)[0]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
