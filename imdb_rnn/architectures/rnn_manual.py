"""The plain RNN written by hand from its equation, with hand-written backpropagation through time."""

import torch
from torch import Tensor

from imdb_rnn.training.bptt import (
    InputGrads,
    ManualRecurrence,
    RecurrenceFunction,
    blocks,
    forward_block,
    forward_blocks,
    previous_states,
    project,
    tanh_grad,
)


class RNNFunction(RecurrenceFunction):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) over a whole sequence; returns h_1..h_T."""

    @staticmethod
    def run(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, for_backward: bool) -> tuple:
        """h_1..h_T, and the tensors that backward needs (empty unless `for_backward`)."""
        T, B, E = x.shape
        # tanh(a) = 2 sigmoid(2a) - 1, and torch's sigmoid is about six times faster than its tanh on CPU:
        # with every row doubled, each step is a sigmoid_, a mul_ and a sub_.
        one, two = x.new_full((), 1), x.new_full((), 2)  # as tensors: an op with a Python number costs twice as much
        w_ih_t, bias, w_hh_t = w_ih.t() * 2, (b_ih + b_hh) * 2, w_hh.t() * 2
        out = x.new_empty(T, B, w_hh.shape[1])  # each step's pre-activation, then its state
        h, h_prev = out.unbind(0), previous_states(out)
        for start, stop in forward_blocks(T, forward_block(B * w_hh.shape[1])):
            project(x, start, stop, w_ih_t, bias, out)
            for t in range(start, stop):
                h[t].addmm_(h_prev[t], w_hh_t).sigmoid_().mul_(two).sub_(one)
        return out, (x, w_ih, w_hh) if for_backward else ()

    @staticmethod
    def gradients(
        needs_input_grad: tuple[bool, ...], x: Tensor, w_ih: Tensor, w_hh: Tensor, out: Tensor, grad_out: Tensor
    ) -> tuple:
        """da_t = (dL/dh_t + da_{t+1} W_hh) * (1 - h_t^2), da being the gradient of the pre-activation."""
        T, B, H = out.shape
        dtanh = tanh_grad(out, torch.empty_like(out)).unbind(0)
        grad = grad_out.unbind(0)
        da = out.new_empty(T + 1, B, H)
        da[T].zero_()
        da_t = da.unbind(0)
        dh = out.new_empty(B, H)
        grads = InputGrads(needs_input_grad, x, w_ih, out)
        for start, stop in blocks(T):
            for t in reversed(range(start, stop)):
                torch.addmm(grad[t], da_t[t + 1], w_hh, out=dh)
                torch.mul(dh, dtanh[t], out=da_t[t])
            grads.add(start, stop, da[start:stop])
        return grads.result()


class ManualRNN(ManualRecurrence):
    function, num_gates = RNNFunction, 1


LAYER = ManualRNN
TWIN = "rnn"  # torch's layer that this one must match, weight for weight
