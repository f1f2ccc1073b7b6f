"""imdb_rnn/bptt.py: the building blocks of the hand-written backward passes, and the passes across blocks of steps."""

import pytest
import torch
from test_architectures import MANUAL, assert_matches_twin

from imdb_rnn import architectures, bptt

FUNCTIONS = [pytest.param(architectures.load(name).layer, id=name) for name in MANUAL]


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def test_blocks_cover_every_step_once_the_last_first(monkeypatch):
    monkeypatch.setattr(bptt, "BLOCK", 3)
    assert bptt.blocks(8) == [(5, 8), (2, 5), (0, 2)]
    assert bptt.blocks(3) == [(0, 3)] and bptt.blocks(1) == [(0, 1)]


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
    assert_matches_twin(manual_arch, (8, 3, 4, 5))


@pytest.mark.parametrize("layer", FUNCTIONS)
def test_gradcheck(layer, monkeypatch):
    monkeypatch.setattr(bptt, "BLOCK", 3)  # T = 5: a full backward block and a short one
    T, B, E, H, gates = 5, 3, 2, 3, layer.num_gates
    shapes = [(T, B, E), (gates * H, E), (gates * H, H), (gates * H,), (gates * H,)]
    inputs = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in shapes]
    assert torch.autograd.gradcheck(layer.function.apply, inputs)
