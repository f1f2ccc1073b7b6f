"""imdb_rnn/training/classifier.py: the classifier around every architecture's layer, its poolings and its config."""

import pytest
import torch

from imdb_rnn import architectures
from imdb_rnn.training.classifier import POOLINGS, ModelConfig, SentimentClassifier, reverse_each


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def make_batch(batch: int, length: int, lengths: list[int], vocab: int = 30):
    """Random ids right-padded with 0 after each review's length."""
    ids = torch.randint(2, vocab, (batch, length))
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids, torch.tensor(lengths)


def classifier(arch: str = "lstm_manual", pooling: str = "mean", **model) -> SentimentClassifier:
    return SentimentClassifier(ModelConfig(arch, vocab_size=30, embed_dim=5, hidden=6, pooling=pooling, **model)).eval()


WIDE = {"layers": 2, "bidirectional": True}  # every part of the model space that adds layers


@pytest.mark.parametrize("model_space", [{}, WIDE | {"embedding_dropout": 0.2, "layer_dropout": 0.3}])
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("arch", architectures.NAMES)
def test_classifier_output_shape(arch, pooling, model_space):
    model = classifier(arch, pooling, **model_space).train()
    config = model.config
    assert [len(layer) for layer in model.recurrent] == [config.directions] * config.layers
    assert all(isinstance(one, architectures.load(arch).layer) for layer in model.recurrent for one in layer)
    ids, lengths = make_batch(3, 8, [8, 5, 1])
    logits = model(ids, lengths)
    assert logits.shape == (3, 2)
    logits.sum().backward()
    assert all(param.grad is not None for param in model.parameters())


def test_reverse_each_reverses_each_review_and_leaves_its_padding():
    x = torch.arange(4.0).repeat(2, 1).t().unsqueeze(2)  # (T=4, B=2, 1): step t holds t
    reversed_ = reverse_each(x, torch.tensor([3, 4]))
    assert reversed_[:, :, 0].t().tolist() == [[2, 1, 0, 3], [3, 2, 1, 0]]
    assert torch.equal(reverse_each(reversed_, torch.tensor([3, 4])), x)


def copy_twin_weights(twin: torch.nn.Module, model: SentimentClassifier) -> None:
    """torch's multi-layer bidirectional layer's weights into the classifier's layers (suffix _reverse: backward)."""
    for index, layer in enumerate(model.recurrent):
        for direction, one in enumerate(layer):
            for name, param in one.named_parameters():
                param.data.copy_(getattr(twin, name.replace("l0", f"l{index}") + "_reverse" * direction))


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_layers_and_directions_match_torchs_layer_on_packed_reviews(arch):
    model = classifier(arch, "masked_mean", **WIDE)
    torch_layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[arch]
    twin = torch_layer(5, 6, num_layers=2, bidirectional=True)
    copy_twin_weights(twin, model)
    ids, lengths = make_batch(3, 9, [9, 4, 1])
    x = model.embedding(ids.t())
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(twin(packed)[0], total_length=9)
    states = model.states(ids, lengths)
    mask = (torch.arange(9).unsqueeze(1) < lengths).unsqueeze(2)
    torch.testing.assert_close(states * mask, expected)


@pytest.mark.parametrize("pooling", ["last", "mean_max"])
@pytest.mark.parametrize("arch", ["rnn_manual", "lstm_manual", "gru_manual"])
def test_a_hand_written_layer_stacked_and_bidirectional_matches_its_twin(arch, pooling):
    manual = classifier(arch, pooling, **WIDE)
    twin = classifier(architectures.load(arch).twin, pooling, **WIDE)
    with torch.no_grad():  # the same weights in the same order (a hand-written layer names them as torch's cells do)
        for mine, its in zip(manual.parameters(), twin.parameters(), strict=True):
            its.copy_(mine)
    ids, lengths = make_batch(3, 9, [9, 4, 1])
    torch.testing.assert_close(manual(ids, lengths), twin(ids, lengths))


@pytest.mark.parametrize("arch", ["lstm", "gru_manual"])
def test_bidirectional_last_pooling_takes_each_direction_after_the_whole_review(arch):
    model = classifier(arch, "last", bidirectional=True)
    ids, lengths = make_batch(2, 9, [4, 9])
    logits = model(ids, lengths)
    states = model.states(ids, lengths)
    for row, length in enumerate([4, 9]):
        after_review = torch.cat([states[length - 1, row, :6], states[0, row, 6:]])
        torch.testing.assert_close(logits[row], model.head(after_review))
    torch.testing.assert_close(logits[:1], model(ids[:1, :4], lengths[:1]))  # as the unpadded review


@pytest.mark.parametrize("arch", ["lstm", "gru_manual"])
def test_last_pooling_takes_the_state_at_length_minus_one(arch):
    model = classifier(arch, "last")
    ids, lengths = make_batch(2, 9, [4, 9])
    logits = model(ids, lengths)
    states = model.states(ids, lengths)
    torch.testing.assert_close(logits[0], model.head(states[3, 0]))
    torch.testing.assert_close(logits[1], model.head(states[8, 1]))
    assert not torch.allclose(logits[0], model.head(states[8, 0]))  # the padding did change the state
    torch.testing.assert_close(logits[:1], model(ids[:1, :4], lengths[:1]))  # same as the unpadded review


@pytest.mark.parametrize(
    ("arch", "pooling", "model_space"),
    [
        ("rnn", "masked_mean", {}),
        ("lstm_manual", "masked_mean", {}),
        ("gru", "max", WIDE),
        ("rnn_manual", "mean_max", WIDE),
    ],
)
def test_masked_poolings_ignore_padding(arch, pooling, model_space):
    model = classifier(arch, pooling, **model_space)
    ids, lengths = make_batch(2, 10, [3, 10])
    logits = model(ids, lengths)
    changed = ids.clone()
    changed[0, 3:] = torch.randint(2, 30, (7,))
    torch.testing.assert_close(model(changed, lengths), logits)
    torch.testing.assert_close(model(ids[:1, :3], lengths[:1]), logits[:1])
    if pooling != "masked_mean":
        return
    mean = classifier(arch, "mean")
    mean.load_state_dict(model.state_dict())
    assert not torch.allclose(mean(ids, lengths)[0], logits[0])  # plain mean counts the padding


@pytest.mark.parametrize("model_space", [{}, WIDE])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_empty_review(pooling, model_space):
    model = classifier("gru_manual", pooling, **model_space)
    ids, lengths = make_batch(2, 5, [0, 2])
    logits = model(ids, lengths)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(param.grad).all() for param in model.parameters())


def test_unknown_arch_or_pooling():
    with pytest.raises(ValueError, match="'transformer'.*lstm_manual"):
        ModelConfig("transformer", 30, 5, 6, "mean")
    with pytest.raises(ValueError, match="'median'.*masked_mean"):
        ModelConfig("lstm", 30, 5, 6, "median")


def test_the_config_takes_every_field_it_has_from_the_params():
    class Params:
        embed_dim, hidden, pooling, lr, head_dropout, layers = 7, 9, "last", 0.1, 0.25, 3

    config = ModelConfig.from_params("gru", 50, Params())
    assert config == ModelConfig("gru", 50, embed_dim=7, hidden=9, pooling="last", head_dropout=0.25, layers=3)


def test_a_dropout_of_zero_is_no_module_and_draws_nothing():
    model = classifier("lstm", "max", embedding_dropout=0.0, layer_dropout=0.0, head_dropout=0.0)
    assert not any(isinstance(module, torch.nn.Dropout) for module in model.modules())
    dropped = classifier("lstm", "max", embedding_dropout=0.5).train()
    ids, lengths = make_batch(2, 6, [6, 6])
    assert not torch.equal(dropped(ids, lengths), dropped(ids, lengths))  # a new mask each call
