"""Model files: self-contained, and a missing, damaged or foreign file is a clear error naming it."""

import pytest
import torch

from imdb_rnn.core.common import StageError
from imdb_rnn.training.checkpoint import FORMAT, FORMAT_1, Checkpoint, load_checkpoint, save_checkpoint
from imdb_rnn.training.classifier import ModelConfig, SentimentClassifier

VOCAB = ["<pad>", "<unk>", "good", "bad"]


def saved(tmp_path, **changes) -> tuple:
    config = ModelConfig("gru", len(VOCAB), embed_dim=4, hidden=3, pooling="last")
    torch.manual_seed(0)
    model = SentimentClassifier(config)
    checkpoint = Checkpoint(
        config=config,
        seed=3,
        best_epoch=2,
        best_val_acc=0.75,
        vocab=VOCAB,
        seq_len=20,
        truncate="head",
        state_dict=model.state_dict(),
        final_state_dict={key: value + 1 for key, value in model.state_dict().items()},
    )
    path = tmp_path / "gru-3.pt"
    save_checkpoint(checkpoint, path)
    return checkpoint, path


def test_a_saved_checkpoint_loads_as_it_was(tmp_path):
    original, path = saved(tmp_path)
    loaded = load_checkpoint(path)
    assert loaded.config == original.config and loaded.vocab == VOCAB
    assert (loaded.seed, loaded.best_epoch, loaded.seq_len, loaded.truncate) == (3, 2, 20, "head")
    best, final = loaded.model(), loaded.model(final=True)
    assert not best.training
    for key, tensor in original.state_dict.items():
        assert torch.equal(best.state_dict()[key], tensor)
        assert torch.equal(final.state_dict()[key], tensor + 1)


def test_a_missing_file_says_how_to_restore_it(tmp_path):
    with pytest.raises(StageError, match=r"model file .*nothere.pt not found: restore it with `dvc checkout"):
        load_checkpoint(tmp_path / "nothere.pt")


@pytest.mark.parametrize("damage", ["text", "truncated", "empty"])
def test_a_damaged_file_is_named_not_a_traceback(tmp_path, damage):
    _, path = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"text": b"hello world", "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(StageError, match=r"gru-3.pt is damaged or not a torch file .*dvc checkout"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [{"state_dict": {}}, torch.zeros(3), {"format": "other/1"}])
def test_a_file_that_is_not_ours_is_refused(tmp_path, content):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(StageError, match=rf"foreign.pt is not a model file of this project .*expected '{FORMAT}'"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    _, path = saved(tmp_path)
    content = torch.load(path, weights_only=True)
    content["config"]["hidden"] = 5
    torch.save(content, path)
    with pytest.raises(StageError, match="gru-3.pt is incomplete or inconsistent"):
        load_checkpoint(path)


def test_a_format_1_file_loads_as_the_model_it_was(tmp_path):
    """Saved before layers, directions and the other dropouts were params: one layer named `recurrent`, `dropout`."""
    original, path = saved(tmp_path)
    content = torch.load(path, weights_only=True)
    config = {key: value for key, value in content["config"].items() if key in ("arch", "vocab_size", "embed_dim")}
    config |= {"hidden": 3, "pooling": "last", "dropout": 0.25}
    old_names = {
        name: {key.replace("recurrent.0.0.", "recurrent."): t for key, t in content[name].items()}
        for name in ("state_dict", "final_state_dict")
    }
    torch.save({**content, **old_names, "config": config, "format": FORMAT_1}, path)
    loaded = load_checkpoint(path)
    assert loaded.config == ModelConfig("gru", len(VOCAB), embed_dim=4, hidden=3, pooling="last", head_dropout=0.25)
    assert "recurrent.weight_ih_l0" in old_names["state_dict"]
    for key, tensor in original.state_dict.items():
        assert torch.equal(loaded.model().state_dict()[key], tensor)
