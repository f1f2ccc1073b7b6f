"""imdb_rnn/architectures/: the registry is its files, and each hand-written layer computes its torch twin."""

import math
import shutil
import sys

import pytest
import torch
from conftest import PROJECT, run_command

from imdb_rnn import architectures

MANUAL = {name: arch.twin for name in architectures.NAMES if (arch := architectures.load(name)).twin}
SHAPES = [(7, 5, 3, 4), (1, 3, 4, 4), (6, 1, 6, 3), (12, 4, 8, 8)]  # (T, B, E, H): H != E, T = 1, B = 1
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

# A throwaway architecture, as README's "Adding an architecture" writes one: the whole of a new file.
TWO_LAYER_GRU = '''"""Two stacked GRU layers."""

from torch import Tensor, nn


class TwoLayerGRU(nn.GRU):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, num_layers=2)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


LAYER = TwoLayerGRU
'''


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def twin_layers(manual_arch: str, input_size: int, hidden_size: int):
    """A hand-written layer and its torch twin holding the same weights."""
    reference = architectures.load(MANUAL[manual_arch]).layer(input_size, hidden_size)
    manual = architectures.load(manual_arch).layer(input_size, hidden_size)
    with torch.no_grad():
        for name in PARAMS:
            getattr(manual, name).copy_(getattr(reference, f"{name}_l0"))
    return manual, reference


def test_the_registry_holds_the_projects_six_layers_each_hand_written_one_with_its_torch_twin():
    # a new file becoming a name is tests/test_pipeline.py's (a copy of the project with one more file)
    assert set(architectures.NAMES) == {"rnn", "lstm", "gru", "rnn_manual", "lstm_manual", "gru_manual"}
    assert MANUAL == {"rnn_manual": "rnn", "lstm_manual": "lstm", "gru_manual": "gru"}


def test_an_unknown_name_lists_the_choices():
    assert architectures.check_name("gru") == "gru"
    with pytest.raises(ValueError, match="unknown architecture 'cnn'; choose from gru, gru_manual, lstm, "):
        architectures.load("cnn")


def test_a_new_file_is_an_architecture_and_only_the_one_in_use_is_imported(tmp_path):
    """In a copy of the package (never this project's): gru2.py alone makes gru2 a name that trains."""
    shutil.copytree(PROJECT / "imdb_rnn", tmp_path / "imdb_rnn", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "imdb_rnn" / "architectures" / "gru2.py").write_text(TWO_LAYER_GRU)
    script = (
        "import sys, torch\n"
        "from imdb_rnn import architectures\n"
        "from imdb_rnn.training.classifier import ModelConfig, SentimentClassifier\n"
        "model = SentimentClassifier(ModelConfig('gru2', 30, 4, 5, 'masked_mean'))\n"
        "model(torch.randint(1, 30, (3, 7)), torch.tensor([7, 4, 1])).sum().backward()\n"
        "print(' '.join(architectures.NAMES))\n"
        "print(model.recurrent[0][0].num_layers, model.embedding.weight.grad is not None)\n"
        "print(' '.join(sorted(name for name in sys.modules if name.startswith('imdb_rnn.architectures.'))))\n"
    )
    names, layers, imported = run_command([sys.executable, "-c", script], tmp_path).stdout.splitlines()
    assert names.split() == sorted([*architectures.NAMES, "gru2"]) and layers == "2 True"
    assert imported == "imdb_rnn.architectures.gru2"
    assert "gru2" not in architectures.NAMES  # the file lives only in the copy


def assert_matches_twin(manual_arch: str, shape: tuple[int, int, int, int]) -> None:
    """Outputs and every gradient of a hand-written layer equal its twin's, on x of `shape` (T, B, E, H)."""
    T, B, E, H = shape
    manual, reference = twin_layers(manual_arch, E, H)
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


@pytest.mark.parametrize("manual_arch", MANUAL)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "T{}-B{}-E{}-H{}".format(*shape))
def test_manual_layer_matches_torch(manual_arch, shape):
    assert_matches_twin(manual_arch, shape)


@pytest.mark.parametrize("manual_arch", MANUAL)
def test_manual_parameters_have_torch_layout_and_init(manual_arch):
    manual = architectures.load(manual_arch).layer(5, 7)
    reference = architectures.load(MANUAL[manual_arch]).layer(5, 7)
    for name in PARAMS:
        param = getattr(manual, name)
        assert param.shape == getattr(reference, f"{name}_l0").shape
        assert param.abs().max() <= 1 / math.sqrt(7) and param.std() > 0.5 / math.sqrt(3 * 7)  # uniform ±1/sqrt(H)
    assert [name for name, _ in manual.named_parameters()] == list(PARAMS)


@pytest.mark.parametrize("manual_arch", MANUAL)
def test_manual_layer_in_float64_and_without_grad(manual_arch):
    manual, reference = twin_layers(manual_arch, 3, 5)
    manual.double()
    reference.double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    with torch.inference_mode():
        out = manual(x)
    with torch.no_grad():
        torch.testing.assert_close(manual(x), out, atol=0, rtol=0)
    torch.testing.assert_close(out, reference(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("manual_arch", MANUAL)
@pytest.mark.parametrize("needed", [("x",), ("weight_hh",), ("bias_hh",), ("bias_ih", "weight_ih")], ids="+".join)
def test_only_the_needed_gradients(manual_arch, needed):
    manual, reference = twin_layers(manual_arch, 3, 4)
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
