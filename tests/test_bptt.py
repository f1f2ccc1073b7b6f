"""imdb_rnn/training/bptt.py: the building blocks of the hand-written backward passes, and the passes across blocks of steps."""

import pytest
import torch
from test_architectures import MANUAL, assert_matches_twin, twin_layers

from imdb_rnn import architectures
from imdb_rnn.training import bptt, cuda_graphs


def layer_gates(manual_arch: str) -> int:
    return architectures.load(manual_arch).layer.num_gates


FUNCTIONS = [pytest.param(architectures.load(name).layer, id=name) for name in MANUAL]


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def test_blocks_cover_every_step_once_the_last_first(monkeypatch):
    monkeypatch.setattr(bptt, "BLOCK", 3)
    assert bptt.blocks(8) == [(5, 8), (2, 5), (0, 2)]
    assert bptt.blocks(3) == [(0, 3)] and bptt.blocks(1) == [(0, 1)]


def test_forward_blocks_fill_the_cache_budget_and_cover_every_step_once_in_order():
    assert bptt.forward_block(64 * 256) == 16 and bptt.forward_block(1024 * 256) == 1  # an LSTM, H = 64
    assert bptt.forward_block(bptt.FORWARD_BLOCK_FLOATS * 4) == 1
    assert bptt.forward_blocks(8, 3) == [(0, 3), (3, 6), (6, 8)]
    assert bptt.forward_blocks(3, 3) == [(0, 3)] and bptt.forward_blocks(1, 3) == [(0, 1)]


def test_per_step_rows_are_the_steps_own_or_a_reused_block():
    assert (bptt.step_rows(8, 3, for_backward=True), bptt.step_rows(8, 3, for_backward=False)) == (8, 3)
    assert bptt.step_rows(2, 3, for_backward=False) == 2
    block = torch.arange(3.0).view(3, 1)
    assert [row.item() for row in bptt.per_step(block, 8)] == [0, 1, 2, 0, 1, 2, 0, 1]
    rows = bptt.per_step(block, 3)
    rows[1].fill_(7)  # views, not copies
    assert block[1].item() == 7


@pytest.mark.parametrize("into", ["all steps", "one block"])
def test_project_writes_a_blocks_steps_into_their_rows(into):
    x, w_ih_t, bias = torch.randn(8, 2, 4), torch.randn(4, 6), torch.randn(6)
    gates = torch.zeros(bptt.step_rows(8, 3, for_backward=into == "all steps"), 2, 6)
    bptt.project(x, 6, 8, w_ih_t, bias, gates)
    rows = bptt.per_step(gates, 8)
    for t in (6, 7):
        torch.testing.assert_close(rows[t], x[t] @ w_ih_t + bias)


def test_regroup_reorders_gate_blocks_and_back():
    weight = torch.arange(12.0).view(6, 2)  # three gates of two rows
    regrouped = bptt.regroup(weight, (2, 0, 1))
    assert regrouped[:, 0].tolist() == [8.0, 10.0, 0.0, 2.0, 4.0, 6.0]
    assert torch.equal(bptt.regroup(regrouped, (1, 2, 0)), weight)


def test_previous_states_start_from_zero():
    out = torch.randn(4, 2, 3)
    previous = bptt.previous_states(out)
    assert len(previous) == 5 and not previous[0].any() and torch.equal(previous[3], out[2])


@pytest.mark.parametrize("manual_arch", MANUAL)
def test_manual_layer_matches_torch_across_backward_blocks(manual_arch, monkeypatch):
    monkeypatch.setattr(bptt, "BLOCK", 3)  # T = 8: blocks 5..7, 2..4 and 0..1
    monkeypatch.setattr(bptt, "FORWARD_BLOCK_FLOATS", 3 * 3 * 5 * layer_gates(manual_arch))  # forward: 0..2, 3..5, 6..7
    assert_matches_twin(manual_arch, (8, 3, 4, 5))


@pytest.mark.parametrize("layer", FUNCTIONS)
def test_gradcheck(layer, monkeypatch):
    monkeypatch.setattr(bptt, "BLOCK", 3)  # T = 5: a full backward block and a short one
    monkeypatch.setattr(bptt, "FORWARD_BLOCK_FLOATS", 2 * 3 * 3 * layer.num_gates)  # and forward blocks of 2 steps
    T, B, E, H, gates = 5, 3, 2, 3, layer.num_gates
    shapes = [(T, B, E), (gates * H, E), (gates * H, H), (gates * H,), (gates * H,)]
    inputs = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in shapes]
    assert torch.autograd.gradcheck(layer.function.apply, inputs)


@pytest.mark.parametrize("manual_arch", MANUAL)
@pytest.mark.parametrize("T", [8, 2])
def test_the_pass_that_keeps_nothing_for_backward_computes_the_same(manual_arch, T, monkeypatch):
    # T = 8: forward blocks 0..2, 3..5 and 6..7, through one reused buffer when nothing is kept for backward
    monkeypatch.setattr(bptt, "FORWARD_BLOCK_FLOATS", 3 * 3 * 5 * layer_gates(manual_arch))
    manual, reference = twin_layers(manual_arch, 4, 5)
    x = torch.randn(T, 3, 4, requires_grad=True)
    kept = manual(x)
    assert kept.grad_fn is not None
    monkeypatch.setattr(type(manual).function, "apply", None)  # the autograd Function is not called
    with torch.inference_mode():
        out = manual(x)
    with torch.no_grad():
        torch.testing.assert_close(manual(x), out, atol=0, rtol=0)
    torch.testing.assert_close(out, kept.detach(), atol=0, rtol=0)
    torch.testing.assert_close(out, reference(x).detach(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("manual_arch", MANUAL)
def test_on_the_cpu_the_loops_run_as_they_are_and_nothing_is_captured(manual_arch):
    captured = len(cuda_graphs.GRAPHS.graphs)
    manual, _ = twin_layers(manual_arch, 4, 5)
    x = torch.randn(6, 3, 4, requires_grad=True)
    manual(x).sum().backward()
    with torch.inference_mode():
        manual(x)
    assert len(cuda_graphs.GRAPHS.graphs) == captured and x.grad is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (python -m bench.gpu runs it on one)")
@pytest.mark.parametrize("manual_arch", MANUAL)
def test_on_a_gpu_the_graphs_give_the_eager_loops_numbers_bit_for_bit(manual_arch):
    layer = architectures.load(manual_arch).layer(8, 16).cuda()
    function, params = layer.function, [param.detach() for param in layer.parameters()]
    captured = len(cuda_graphs.GRAPHS.graphs)
    for T, B in [(5, 3), (5, 3), (9, 3)]:  # a capture, a replay of it, another shape's capture
        x = torch.randn(T, B, 8, device="cuda", requires_grad=True)
        out = layer(x)
        upstream = torch.randn_like(out)
        out.backward(upstream)
        eager, saved = function.run(x.detach(), *params, for_backward=True)
        eager_grads = function.gradients((True,) * 5, *saved, eager, upstream)
        assert torch.equal(out, eager)
        for grad, eager_grad in zip([x.grad, *(param.grad for param in layer.parameters())], eager_grads, strict=True):
            assert torch.equal(grad, eager_grad)
        layer.zero_grad()
        with torch.inference_mode():
            assert torch.equal(layer(x.detach()), function.run(x.detach(), *params, for_backward=False)[0])
    assert len(cuda_graphs.GRAPHS.graphs) - captured == 6  # forward, backward and inference, at two shapes
