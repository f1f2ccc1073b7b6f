import json

import numpy as np
import pytest
import torch

from imdb_rnn.core import paths
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import BEST, LAST
from imdb_rnn.core.params import load_params
from imdb_rnn.training.losses import LOSS_FUNCTIONS
from stages import evaluate, train


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
    train.train("lstm_manual", 1, load_params(train.Params))
    monkeypatch.setattr("sys.argv", ["evaluate", "lstm_manual", "1"])
    evaluate.main()
    metrics = json.loads((tokenized / paths.test_metrics_file("lstm_manual", 1)).read_text())
    assert {BEST.key, LAST.key, "test_loss", "precision", "recall", "f1", "confusion"} <= metrics.keys()
    confusion = metrics["confusion"]
    assert sum(confusion["true_neg"].values()) + sum(confusion["true_pos"].values()) == 48
    assert metrics["threads"] == 1 and metrics["device"] == "cpu" and metrics["torch"] == torch.__version__
    with np.load(tokenized / paths.predictions_file("lstm_manual", 1)) as correct:
        assert {epoch: correct[epoch].shape for epoch in correct.files} == {
            BEST.review_key: (48,),
            LAST.review_key: (48,),
        }
        for epoch in (BEST, LAST):
            assert correct[epoch.review_key].mean() == pytest.approx(metrics[epoch.key], abs=1e-6)


def test_predictions_are_put_back_in_the_split_order():
    order = torch.tensor([2, 0, 3, 1])  # evaluation saw review 2 first, then 0, ...
    in_evaluation_order = torch.tensor([True, False, False, True])
    assert evaluate.in_split_order(in_evaluation_order, order).tolist() == [False, True, True, False]


def test_a_model_of_another_vocabulary_is_refused(tokenized, monkeypatch):
    train.train("rnn", 0, load_params(train.Params))
    vocab = tokenized / paths.VOCAB_FILE
    vocab.write_text(json.dumps([*json.loads(vocab.read_text()), "extra"]))
    monkeypatch.setattr("sys.argv", ["evaluate", "rnn", "0"])
    with pytest.raises(
        StageError, match=r"models/rnn-0.pt was trained with another vocabulary .*dvc repro train@rnn-0"
    ):
        evaluate.main()


def test_a_wrong_seed_is_refused_by_its_param_before_the_model_is_read(tokenized, monkeypatch):
    monkeypatch.setattr("sys.argv", ["evaluate", "rnn", "x"])
    with pytest.raises(StageError, match="'seeds' = 'x': a seed is a non-negative integer"):
        evaluate.main()
