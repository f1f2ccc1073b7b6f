"""The LSTM written by hand from its gate equations, with hand-written backpropagation through time."""

import torch
from torch import Tensor

from imdb_rnn.training.bptt import (
    BLOCK,
    InputGrads,
    ManualRecurrence,
    RecurrenceFunction,
    blocks,
    doubled_gate,
    forward_block,
    forward_blocks,
    per_step,
    previous_states,
    project,
    sigmoid_grad,
    step_rows,
    tanh_grad,
)


class LSTMFunction(RecurrenceFunction):
    """An LSTM over a whole sequence; returns h_1..h_T.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), split in four;
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
    """

    @staticmethod
    def run(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, for_backward: bool) -> tuple:
        """h_1..h_T, and the tensors that backward needs (empty unless `for_backward`)."""
        T, B, E = x.shape
        H = w_hh.shape[1]
        # tanh(a) = 2 sigmoid(2a) - 1, and torch's sigmoid is about six times faster than its tanh on CPU.
        # With the rows of g doubled, one sigmoid_ per step serves all four gates; g's columns then hold
        # (g + 1) / 2. The state is kept doubled too (c2 = 2c), so that sigmoid(c2) - 1/2 is tanh(c) / 2; the
        # loop keeps h / 2 = o (sigmoid(c2) - 1/2) in `out`, W_hh doubled, and doubles `out` once at the end.
        double_g = doubled_gate(x, H, gates=4, doubled=2)
        half = x.new_full((), 0.5)  # as a tensor: an op with a Python number costs twice as much
        w_ih_t, bias, w_hh_t = w_ih.t() * double_g, (b_ih + b_hh) * double_g, w_hh.t() * (2 * double_g)
        out = x.new_empty(T, B, H)
        # For backward, every step's gates, c2 and tanh(c) / 2 are kept; otherwise one block of gates and one
        # row of each (per_step reuses them), which stay in cache.
        steps = forward_block(B * 4 * H)
        gates = x.new_empty(step_rows(T, steps, for_backward), B, 4 * H)
        c2, tanh_c = x.new_empty(T + 1 if for_backward else 1, B, H), x.new_empty(T if for_backward else 1, B, H)
        c2[0].zero_()
        pre, (i, f, g, o) = per_step(gates, T), (per_step(gate, T) for gate in gates.split(H, 2))
        h, h_prev, c_t, tanh_c_t = out.unbind(0), previous_states(out), per_step(c2, T + 1), per_step(tanh_c, T)
        for start, stop in forward_blocks(T, steps):
            project(x, start, stop, w_ih_t, bias, gates)
            for t in range(start, stop):
                pre[t].addmm_(h_prev[t], w_hh_t).sigmoid_()
                torch.mul(f[t], c_t[t], out=c_t[t + 1])
                c_t[t + 1].addcmul_(i[t], g[t], value=4).sub_(i[t], alpha=2)  # + 2 i g
                torch.sigmoid(c_t[t + 1], out=tanh_c_t[t]).sub_(half)
                torch.mul(o[t], tanh_c_t[t], out=h[t])
        out.mul_(2)
        if not for_backward:
            return out, ()
        gates[..., 2 * H : 3 * H].mul_(2).sub_(1)  # g itself, for backward
        return out, (x, w_ih, w_hh, gates, c2.mul_(0.5), tanh_c.mul_(2))  # c = c2 / 2 and tanh(c)

    @staticmethod
    def gradients(
        needs_input_grad: tuple[bool, ...],
        x: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        gates: Tensor,
        c: Tensor,
        tanh_c: Tensor,
        out: Tensor,
        grad_out: Tensor,
    ) -> tuple:
        """Per step, with dh_t = dL/dh_t + dgates_{t+1} W_hh and dc_t = dh_t o (1 - tanh^2 c_t) + dc_{t+1} f_{t+1}:

        di = dc_t g i(1-i),  df = dc_t c_{t-1} f(1-f),  dg = dc_t i (1-g^2),  do = dh_t tanh(c_t) o(1-o),
        all four being gradients of the pre-activations.
        """
        T, B, H = out.shape
        i, f, g, o = gates.split(H, 2)
        # Columns of d: dc_t f_t (step t's part of dc_{t-1}), then di, df, dg, do, the gate gradients in
        # torch's order. So one multiplication per step gives the first four. d holds one block of steps,
        # reused for every block, so that it stays in cache: row k is step start + k, and row n, after a
        # block's n steps, the step after the block (the block before's row 0), zero after the last step.
        d = out.new_empty(BLOCK + 1, B, 5 * H)
        grad = grad_out.unbind(0)
        dh, dc = out.new_empty(B, H), out.new_empty(B, H)
        dc_col = dc.unsqueeze(1)
        # What dh_t multiplies (to give its part of dc_t, and do), and what dc_t multiplies (to give its
        # part of dc_{t-1}, and di, df, dg), for one block of steps.
        dh_to_block, dc_to_block = out.new_empty(BLOCK, B, 2, H), out.new_empty(BLOCK, B, 4, H)
        grads = InputGrads(needs_input_grad, x, w_ih, out)
        for start, stop in blocks(T):
            steps, n = slice(start, stop), stop - start
            if stop == T:
                d[n].zero_()
            else:
                d[n].copy_(d[0])
            dgates = d[: n + 1, :, H:]
            dgates_t, dc_carry = dgates.unbind(0), d[: n + 1, :, :H].unbind(0)
            d_c_ifg, d_o = d[:n, :, : 4 * H].unflatten(2, (4, H)).unbind(0), d[:n, :, 4 * H :].unbind(0)
            dh_to, dc_to = dh_to_block[:n], dc_to_block[:n]
            tanh_grad(tanh_c[steps], dh_to[:, :, 0]).mul_(o[steps])  # o (1 - tanh^2 c_t)
            sigmoid_grad(o[steps], dh_to[:, :, 1]).mul_(tanh_c[steps])  # tanh(c_t) o(1-o)
            dc_to[:, :, 0].copy_(f[steps])
            sigmoid_grad(i[steps], dc_to[:, :, 1]).mul_(g[steps])  # g i(1-i)
            sigmoid_grad(f[steps], dc_to[:, :, 2]).mul_(c[steps])  # c_{t-1} f(1-f)
            tanh_grad(g[steps], dc_to[:, :, 3]).mul_(i[steps])  # i (1-g^2)
            dh_to_dc, dh_to_do = (factor.unbind(0) for factor in dh_to.unbind(2))
            dc_to = dc_to.unbind(0)
            for k in reversed(range(n)):
                torch.addmm(grad[start + k], dgates_t[k + 1], w_hh, out=dh)
                torch.addcmul(dc_carry[k + 1], dh, dh_to_dc[k], out=dc)
                torch.mul(dc_col, dc_to[k], out=d_c_ifg[k])
                torch.mul(dh, dh_to_do[k], out=d_o[k])
            grads.add(start, stop, dgates[:n])
        return grads.result()


class ManualLSTM(ManualRecurrence):
    function, num_gates = LSTMFunction, 4


LAYER = ManualLSTM
TWIN = "lstm"  # torch's layer that this one must match, weight for weight
