"""imdb_rnn/training/classifier.py: the classifier around every architecture's layer, its poolings and its config."""

import pytest
import torch

from imdb_rnn import architectures
from imdb_rnn.training.classifier import POOLINGS, ModelConfig, SentimentClassifier


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def make_batch(batch: int, length: int, lengths: list[int], vocab: int = 30):
    """Random ids right-padded with 0 after each review's length."""
    ids = torch.randint(2, vocab, (batch, length))
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids, torch.tensor(lengths)


def classifier(arch: str = "lstm_manual", pooling: str = "mean") -> SentimentClassifier:
    return SentimentClassifier(ModelConfig(arch, vocab_size=30, embed_dim=5, hidden=6, pooling=pooling)).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("arch", architectures.NAMES)
def test_classifier_output_shape(arch, pooling):
    model = classifier(arch, pooling).train()
    assert isinstance(model.recurrent, architectures.load(arch).layer)
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
