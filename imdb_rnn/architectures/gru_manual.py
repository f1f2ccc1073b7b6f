"""The GRU written by hand from its gate equations, with hand-written backpropagation through time."""

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
    regroup,
    sigmoid_grad,
    step_rows,
    tanh_grad,
)


class GRUFunction(RecurrenceFunction):
    """A GRU over a whole sequence, in torch's form; returns h_1..h_T.

    r, z = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr), sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz);
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn));  h_t = (1 - z) * n + z * h_{t-1}.

    The report writes the candidate as n = tanh(W [r * h_{t-1}, x_t] + b) (Cho et al., reset applied
    before the product). We use torch's "reset after" form instead: it makes the layer checkable against
    nn.GRU weight for weight, and it is the faster one, because h_{t-1} W_hh^T no longer depends on r and
    so is one matrix product per step for all three gates, not one for r, z and then another for n.
    """

    @staticmethod
    def run(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, for_backward: bool) -> tuple:
        """h_1..h_T, and the tensors that backward needs (empty unless `for_backward`)."""
        T, B, E = x.shape
        H = w_hh.shape[1]
        # tanh(a) = 2 sigmoid(2a) - 1, and torch's sigmoid is about six times faster than its tanh on CPU:
        # the rows of n are doubled, on both sides, and n's columns hold (n + 1) / 2 until mul_ and sub_.
        double_n = doubled_gate(x, H, gates=3, doubled=2)
        one, two = x.new_full((), 1), x.new_full((), 2)  # as tensors: an op with a Python number costs twice as much
        # b_hr and b_hz join the input projection; b_hn must stay inside r * (W_hn h + b_hn).
        zeros = b_hh.new_zeros(H)
        bias_x = (b_ih + torch.cat((b_hh[: 2 * H], zeros))) * double_n
        bias_h = torch.cat((zeros, zeros, b_hh[2 * H :])) * double_n
        w_ih_t, w_hh_t = w_ih.t() * double_n, w_hh.t() * double_n
        out = x.new_empty(T, B, H)
        # For backward, every step's gates and h_{t-1} W_hh^T + (0, 0, b_hn) are kept; otherwise one block
        # of gates and one row of the latter (per_step reuses them), which stay in cache.
        steps = forward_block(B * 3 * H)
        gates = x.new_empty(step_rows(T, steps, for_backward), B, 3 * H)
        hidden = x.new_empty(T if for_backward else 1, B, 3 * H)
        rz, (r, z, n) = per_step(gates[..., : 2 * H], T), (per_step(gate, T) for gate in gates.split(H, 2))
        hidden_t, hidden_rz, hidden_n = (
            per_step(part, T) for part in (hidden, hidden[..., : 2 * H], hidden[..., 2 * H :])
        )
        h, h_prev = out.unbind(0), previous_states(out)
        for start, stop in forward_blocks(T, steps):
            project(x, start, stop, w_ih_t, bias_x, gates)
            for t in range(start, stop):
                torch.addmm(bias_h, h_prev[t], w_hh_t, out=hidden_t[t])
                rz[t].add_(hidden_rz[t]).sigmoid_()
                n[t].addcmul_(r[t], hidden_n[t]).sigmoid_().mul_(two).sub_(one)
                torch.lerp(n[t], h_prev[t], z[t], out=h[t])
        if not for_backward:
            return out, ()
        hidden[..., 2 * H :].mul_(0.5)  # W_hn h_{t-1} + b_hn itself, for backward
        return out, (x, w_ih, w_hh, gates, hidden)

    @staticmethod
    def gradients(
        needs_input_grad: tuple[bool, ...],
        x: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        gates: Tensor,
        hidden: Tensor,
        out: Tensor,
        grad_out: Tensor,
    ) -> tuple:
        """Per step, with dh_t = dL/dh_t + dh_{t+1} z_{t+1} + (dr, dz, dn_h)_{t+1} W_hh:

        dn_x = dh_t (1-z)(1-n^2),  dz = dh_t (h_{t-1} - n) z(1-z),  dr = dn_x (W_hn h_{t-1} + b_hn) r(1-r),
        dn_h = dn_x r;  dn_x is the gradient of W_in x_t + b_in, dn_h that of W_hn h_{t-1} + b_hn.
        """
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
        # The input side sees the columns as (n, r, z): regroup W_ih to match, and the results back.
        grads = InputGrads(needs_input_grad, x, regroup(w_ih, (2, 0, 1)), out)
        for start, stop in blocks(T):
            steps = slice(start, stop)
            dh_to, dn_x_to = dh_to_block[: stop - start], dn_x_to_block[: stop - start]
            to_n, to_z = dh_to.unbind(2)
            tanh_grad(n[steps], to_n).addcmul_(to_n, z[steps], value=-1)  # (1-z)(1-n^2)
            h_prev = out[start - 1 : stop - 1] if start else torch.cat((out.new_zeros(1, B, H), out[: stop - 1]))
            torch.sub(h_prev, n[steps], out=to_z).mul_(z[steps]).addcmul_(to_z, z[steps], value=-1)
            sigmoid_grad(r[steps], dn_x_to[:, :, 0]).mul_(hidden[steps, :, 2 * H :])  # (W_hn h + b_hn) r(1-r)
            dn_x_to[:, :, 1].copy_(r[steps])
            dh_to, dn_x_to = dh_to.unbind(0), dn_x_to.unbind(0)
            for t in reversed(range(start, stop)):
                k = t - start
                torch.addcmul(grad[t], dh, z_next[t], out=dh)
                dh.addmm_(d_hidden[t + 1], w_hh)
                torch.mul(dh_col, dh_to[k], out=d_nx_z[t])
                torch.mul(dn_x[t], dn_x_to[k], out=d_r_nh[t])
            grads.add(start, stop, d[steps, :, : 3 * H], d[steps, :, H:])
        grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = grads.result()
        if grad_w_ih is not None:
            grad_w_ih = regroup(grad_w_ih, (1, 2, 0))
        if grad_b_ih is not None:
            grad_b_ih = regroup(grad_b_ih, (1, 2, 0))
        return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


class ManualGRU(ManualRecurrence):
    function, num_gates = GRUFunction, 3


LAYER = ManualGRU
TWIN = "gru"  # torch's layer that this one must match, weight for weight
