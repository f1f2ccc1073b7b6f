"""The plain RNN written by hand from its equation, with hand-written backpropagation through time."""

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from imdb_rnn.bptt import ManualRecurrence, input_grads, previous_states, tanh_grad


class RNNFunction(torch.autograd.Function):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) over a whole sequence; returns h_1..h_T."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        T, B, E = x.shape
        H = w_hh.shape[1]
        out = torch.addmm(b_ih + b_hh, x.reshape(T * B, E), w_ih.t()).view(T, B, H)
        w_hh_t = w_hh.t()
        h, h_prev = out.unbind(0), previous_states(out)
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
        dtanh = tanh_grad(out, torch.empty_like(out)).unbind(0)
        grad = grad_out.unbind(0)
        da = out.new_empty(T + 1, B, H)
        da[T].zero_()
        da_t = da.unbind(0)
        dh = out.new_empty(B, H)
        for t in reversed(range(T)):
            torch.addmm(grad[t], da_t[t + 1], w_hh, out=dh)
            torch.mul(dh, dtanh[t], out=da_t[t])
        return input_grads(ctx, x, w_ih, out, da[:T])


class ManualRNN(ManualRecurrence):
    function, num_gates = RNNFunction, 1


LAYER = ManualRNN
TWIN = "rnn"  # torch's layer that this one must match, weight for weight
