import json

import pytest
import torch

from stages import evaluate, paths, train
from stages.common import StageError
from stages.losses import LOSS_FUNCTIONS
from stages.params import load_params


def test_scores_of_known_predictions():
    logits = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([1, 0, 0, 1])
    scores = evaluate.scores(logits, labels, LOSS_FUNCTIONS["cross_entropy"])
    assert scores["test_acc"] == 0.5 and scores["precision"] == 0.5 and scores["recall"] == 0.5
    assert scores["confusion"] == {
        "true_neg": {"pred_neg": 1, "pred_pos": 1},
        "true_pos": {"pred_neg": 1, "pred_pos": 1},
    }


def test_evaluate_writes_the_test_metrics_of_the_run(tokenized, monkeypatch):
    train.train("lstm_manual", 1, load_params())
    monkeypatch.setattr("sys.argv", ["evaluate", "lstm_manual", "1"])
    evaluate.main()
    metrics = json.loads((tokenized / paths.test_metrics_file("lstm_manual", 1)).read_text())
    assert {"test_acc", "final_test_acc", "test_loss", "precision", "recall", "f1", "confusion"} <= metrics.keys()
    confusion = metrics["confusion"]
    assert sum(confusion["true_neg"].values()) + sum(confusion["true_pos"].values()) == 48


def test_a_model_of_another_vocabulary_is_refused(tokenized, monkeypatch):
    train.train("rnn", 0, load_params())
    vocab = tokenized / paths.VOCAB_FILE
    vocab.write_text(json.dumps([*json.loads(vocab.read_text()), "extra"]))
    monkeypatch.setattr("sys.argv", ["evaluate", "rnn", "0"])
    with pytest.raises(
        StageError, match=r"models/rnn-0.pt was trained with another vocabulary .*dvc repro train@rnn-0"
    ):
        evaluate.main()
