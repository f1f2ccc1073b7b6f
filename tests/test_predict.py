import io

import pytest

from stages import predict, train
from stages.common import StageError
from stages.params import load_params


def test_predict_prints_a_label_and_probability_per_review(tokenized, monkeypatch, capsys):
    train.train("gru", load_params())
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["predict", "--arch", "gru", "A wonderful, moving film.", ""])
    predict.main()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    label, probability, text = lines[0].split("\t")
    assert label in ("positive", "negative") and 0.5 <= float(probability) <= 1 and text == "A wonderful, moving film."


def test_predict_reads_one_review_per_line_from_stdin(tokenized, monkeypatch, capsys):
    train.train("gru", load_params())
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["predict", "--arch", "gru"])
    monkeypatch.setattr("sys.stdin", io.StringIO("great superb film\n\nawful boring plot\n"))
    predict.main()
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_missing_model_says_which_target_makes_it(project):
    with pytest.raises(StageError, match="dvc repro train@lstm"):
        predict.classify(["fine"], "lstm")
