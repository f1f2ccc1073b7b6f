import io
import os
import shutil
import subprocess
import sys

import pytest
from conftest import PROJECT, set_params

from imdb_rnn import paths
from imdb_rnn.common import StageError
from imdb_rnn.params import load_params
from stages import train
from tools import predict


@pytest.fixture
def trained(tokenized):
    """A GRU trained on the tiny archive long enough to tell its positive words from its negative ones."""
    set_params(tokenized, epochs=12, lr=0.01)
    train.train("gru", 0, load_params())
    return tokenized / paths.model_file("gru", 0)


def test_predict_prints_label_and_probability_of_positive(trained, monkeypatch, capsys):
    reviews = ["Great wonderful superb moving film, loved it. BRILLIANT!", "Awful boring dull film, hated it. WORST!"]
    monkeypatch.setattr("sys.argv", ["predict", "--model", str(trained), *reviews])
    predict.main()
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [label for label, _, _ in lines] == ["positive", "negative"]
    assert float(lines[0][1]) > 0.5 > float(lines[1][1])
    assert lines[0][2] == reviews[0]


def test_predict_reads_one_review_per_line_from_stdin(trained, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["predict", "--model", str(trained)])
    monkeypatch.setattr("sys.stdin", io.StringIO("great superb film\n\nawful boring plot\n"))
    predict.main()
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_the_model_file_alone_is_enough(trained, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    shutil.copy(trained, empty / "model.pt")
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "tools.predict", "--model", "model.pt", "A wonderful film."]
    result = subprocess.run(command, cwd=empty, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\t")[0] in ("positive", "negative")
    assert sorted(path.name for path in empty.iterdir()) == ["model.pt"]


def test_a_missing_model_is_a_message_not_a_traceback(project, monkeypatch):
    monkeypatch.setattr("sys.argv", ["predict", "--model", "models/lstm-0.pt", "fine"])
    with pytest.raises(StageError, match=r"model file models/lstm-0.pt not found: restore it with"):
        predict.main()
