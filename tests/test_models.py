"""The hand-written recurrent layers against torch's, their autograd Functions, and the classifier around them."""

import math

import pytest
import torch

from imdb_rnn import classifier as models
from imdb_rnn.classifier import (
    ARCHITECTURES,
    POOLINGS,
    Architecture,
    GRUFunction,
    LSTMFunction,
    ModelConfig,
    RNNFunction,
    SentimentClassifier,
)

PAIRS = [(arch, entry.twin) for arch, entry in ARCHITECTURES.items() if entry.twin]
FUNCTIONS = [
    pytest.param(RNNFunction, 1, id="rnn"),
    pytest.param(LSTMFunction, 4, id="lstm"),
    pytest.param(GRUFunction, 3, id="gru"),
]
SHAPES = [(7, 5, 3, 4), (1, 3, 4, 4), (6, 1, 6, 3), (12, 4, 8, 8)]  # (T, B, E, H): H != E, T = 1, B = 1
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def twin_layers(manual_arch: str, torch_arch: str, input_size: int, hidden_size: int):
    """A torch layer and a hand-written one holding the same weights."""
    reference = ARCHITECTURES[torch_arch].layer(input_size, hidden_size)
    manual = ARCHITECTURES[manual_arch].layer(input_size, hidden_size)
    with torch.no_grad():
        for name in PARAMS:
            getattr(manual, name).copy_(getattr(reference, f"{name}_l0"))
    return manual, reference


@pytest.mark.parametrize("manual_arch, torch_arch", PAIRS)
def test_manual_parameters_have_torch_layout_and_init(manual_arch, torch_arch):
    manual, reference = ARCHITECTURES[manual_arch].layer(5, 7), ARCHITECTURES[torch_arch].layer(5, 7)
    for name in PARAMS:
        param = getattr(manual, name)
        assert param.shape == getattr(reference, f"{name}_l0").shape
        assert param.abs().max() <= 1 / math.sqrt(7)
    assert [name for name, _ in manual.named_parameters()] == list(PARAMS)


@pytest.mark.parametrize("manual_arch, torch_arch", PAIRS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "T{}-B{}-E{}-H{}".format(*shape))
def test_manual_layer_matches_torch(manual_arch, torch_arch, shape):
    T, B, E, H = shape
    manual, reference = twin_layers(manual_arch, torch_arch, E, H)
    x_manual = torch.randn(T, B, E, requires_grad=True)
    x_reference = x_manual.detach().clone().requires_grad_()
    out_manual, out_reference = manual(x_manual), reference(x_reference)
    assert out_manual.shape == (T, B, H)
    torch.testing.assert_close(out_manual, out_reference, atol=1e-5, rtol=0)

    upstream = torch.randn(T, B, H)
    out_manual.backward(upstream)
    out_reference.backward(upstream)
    torch.testing.assert_close(x_manual.grad, x_reference.grad, atol=1e-5, rtol=0)
    for name in PARAMS:
        torch.testing.assert_close(getattr(manual, name).grad, getattr(reference, f"{name}_l0").grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("manual_arch, torch_arch", PAIRS)
def test_manual_layer_matches_torch_across_backward_blocks(manual_arch, torch_arch, monkeypatch):
    monkeypatch.setattr(models, "BLOCK", 3)  # T = 8: blocks 5..7, 2..4 and 0..1
    test_manual_layer_matches_torch(manual_arch, torch_arch, (8, 3, 4, 5))


@pytest.mark.parametrize("function, num_gates", FUNCTIONS)
def test_gradcheck(function, num_gates, monkeypatch):
    monkeypatch.setattr(models, "BLOCK", 3)  # T = 5: a full backward block and a short one
    T, B, E, H = 5, 3, 2, 3
    shapes = [(T, B, E), (num_gates * H, E), (num_gates * H, H), (num_gates * H,), (num_gates * H,)]
    inputs = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in shapes]
    assert torch.autograd.gradcheck(function.apply, inputs)


@pytest.mark.parametrize("manual_arch, torch_arch", PAIRS)
@pytest.mark.parametrize("needed", [("x",), ("weight_hh",), ("bias_hh",), ("bias_ih", "weight_ih")], ids="+".join)
def test_only_the_needed_gradients(manual_arch, torch_arch, needed):
    manual, reference = twin_layers(manual_arch, torch_arch, 3, 4)
    x = torch.randn(5, 2, 3)
    upstream = torch.randn(5, 2, 4)
    reference_x = x.clone().requires_grad_()
    reference(reference_x).backward(upstream)
    x.requires_grad_("x" in needed)
    for name in PARAMS:
        getattr(manual, name).requires_grad_(name in needed)
    manual(x).backward(upstream)
    assert (x.grad is not None) == ("x" in needed)
    if "x" in needed:
        torch.testing.assert_close(x.grad, reference_x.grad, atol=1e-5, rtol=0)
    for name in PARAMS:
        grad = getattr(manual, name).grad
        assert (grad is not None) == (name in needed)
        if grad is not None:
            torch.testing.assert_close(grad, getattr(reference, f"{name}_l0").grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("manual_arch, torch_arch", PAIRS)
def test_manual_layer_in_float64_and_without_grad(manual_arch, torch_arch):
    manual, reference = twin_layers(manual_arch, torch_arch, 3, 5)
    manual.double()
    reference.double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    with torch.inference_mode():
        out = manual(x)
    with torch.no_grad():
        torch.testing.assert_close(manual(x), out, atol=0, rtol=0)
    torch.testing.assert_close(out, reference(x), atol=1e-12, rtol=0)


def make_batch(batch: int, length: int, lengths: list[int], vocab: int = 30):
    """Random ids right-padded with 0 after each review's length."""
    ids = torch.randint(2, vocab, (batch, length))
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids, torch.tensor(lengths)


def classifier(arch: str = "lstm_manual", pooling: str = "mean") -> SentimentClassifier:
    return SentimentClassifier(ModelConfig(arch, vocab_size=30, embed_dim=5, hidden=6, pooling=pooling)).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_classifier_output_shape(arch, pooling):
    model = classifier(arch, pooling).train()
    ids, lengths = make_batch(3, 8, [8, 5, 1])
    logits = model(ids, lengths)
    assert logits.shape == (3, 2)
    logits.sum().backward()
    assert model.embedding.weight.grad is not None


@pytest.mark.parametrize("arch", ["lstm", "gru_manual"])
def test_last_pooling_takes_the_state_at_length_minus_one(arch):
    model = classifier(arch, "last")
    ids, lengths = make_batch(2, 9, [4, 9])
    logits = model(ids, lengths)
    states = model.recurrent(model.embedding(ids.t()))
    torch.testing.assert_close(logits[0], model.head(states[3, 0]))
    torch.testing.assert_close(logits[1], model.head(states[8, 1]))
    assert not torch.allclose(logits[0], model.head(states[8, 0]))  # the padding did change the state
    torch.testing.assert_close(logits[:1], model(ids[:1, :4], lengths[:1]))  # same as the unpadded review


@pytest.mark.parametrize("arch", ["rnn", "lstm_manual"])
def test_masked_mean_ignores_padding(arch):
    model = classifier(arch, "masked_mean")
    ids, lengths = make_batch(2, 10, [3, 10])
    logits = model(ids, lengths)
    changed = ids.clone()
    changed[0, 3:] = torch.randint(2, 30, (7,))
    torch.testing.assert_close(model(changed, lengths), logits)
    torch.testing.assert_close(model(ids[:1, :3], lengths[:1]), logits[:1])
    mean = classifier(arch, "mean")
    mean.load_state_dict(model.state_dict())
    assert not torch.allclose(mean(ids, lengths)[0], logits[0])  # plain mean counts the padding


@pytest.mark.parametrize("pooling", POOLINGS)
def test_empty_review(pooling):
    model = classifier("gru_manual", pooling)
    ids, lengths = make_batch(2, 5, [0, 2])
    logits = model(ids, lengths)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(param.grad).all() for param in model.parameters())


def test_unknown_arch_or_pooling():
    with pytest.raises(ValueError, match="'transformer'.*lstm_manual"):
        ModelConfig("transformer", 30, 5, 6, "mean")
    with pytest.raises(ValueError, match="'max'.*masked_mean"):
        ModelConfig("lstm", 30, 5, 6, "max")


def test_the_config_takes_every_field_it_has_from_the_params():
    class Params:
        embed_dim, hidden, pooling, lr, dropout = 7, 9, "last", 0.1, 0.25

    config = ModelConfig.from_params("gru", 50, Params())
    assert config == ModelConfig("gru", 50, embed_dim=7, hidden=9, pooling="last", dropout=0.25)


class TwoLayerGRU(torch.nn.GRU):
    """A throwaway architecture: what a new registry entry looks like."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, num_layers=2)

    def forward(self, x):
        return super().forward(x)[0]


def test_a_new_registry_entry_is_a_working_classifier(monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, "gru2", Architecture(TwoLayerGRU))
    model = classifier("gru2", "masked_mean").train()
    ids, lengths = make_batch(3, 8, [8, 5, 1])
    model(ids, lengths).sum().backward()
    assert model.recurrent.num_layers == 2 and model.embedding.weight.grad is not None
