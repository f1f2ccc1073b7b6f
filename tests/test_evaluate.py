import json

import torch

from stages import evaluate, train
from stages.params import load_params


def test_scores_of_known_predictions():
    logits = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([1, 0, 0, 1])
    scores = evaluate.scores(logits, labels, train.LOSS_FUNCTIONS["cross_entropy"])
    assert scores["test_acc"] == 0.5 and scores["precision"] == 0.5 and scores["recall"] == 0.5
    assert scores["confusion"] == {
        "true_neg": {"pred_neg": 1, "pred_pos": 1},
        "true_pos": {"pred_neg": 1, "pred_pos": 1},
    }


def test_evaluate_writes_the_test_metrics_of_the_arch(tokenized, monkeypatch):
    train.train("lstm_manual", load_params())
    monkeypatch.setattr("sys.argv", ["evaluate", "lstm_manual"])
    evaluate.main()
    metrics = json.loads((tokenized / "metrics/test/lstm_manual.json").read_text())
    assert {"test_acc", "final_test_acc", "test_loss", "precision", "recall", "f1", "confusion"} <= metrics.keys()
    confusion = metrics["confusion"]
    assert sum(confusion["true_neg"].values()) + sum(confusion["true_pos"].values()) == 48
