"""tools/predict.py: labels and probabilities from a model file alone, in batches as evaluation makes them."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT, TINY_MODEL, build_archive, set_params

from imdb_rnn.core import paths
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import load_params
from imdb_rnn.training.checkpoint import load_checkpoint
from stages import tokenize, train
from tools import predict

POSITIVE_REVIEW = "Great wonderful superb moving film, loved it. BRILLIANT!"
NEGATIVE_REVIEW = "Awful boring dull film, hated it. WORST!"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A GRU trained once for this module on a tiny archive, long enough to tell positive words from negative ones."""
    root = tmp_path_factory.mktemp("predict")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        shutil.copy(PROJECT / "params.yaml", root / "params.yaml")
        set_params(root, **TINY_MODEL | {"epochs": 12, "lr": 0.01})
        build_archive(root / paths.RAW_ARCHIVE, per_label=24)
        tokenize.main()
        train.train("gru", 0, load_params(train.Params))
    return root / paths.model_file("gru", 0)


def predicted(monkeypatch, capsys, argv: list[str], stdin: str | None = None) -> list[list[str]]:
    """predict's output lines, split into (label, probability, review), for the given arguments and stdin."""
    monkeypatch.setattr("sys.argv", ["predict", *argv])
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    predict.main()
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_predict_prints_label_and_probability_of_positive(trained, monkeypatch, capsys):
    lines = predicted(monkeypatch, capsys, ["--model", str(trained), POSITIVE_REVIEW, NEGATIVE_REVIEW])
    assert [label for label, _, _ in lines] == ["positive", "negative"]
    assert float(lines[0][1]) > 0.5 > float(lines[1][1])
    assert lines[0][2] == POSITIVE_REVIEW


def test_predict_reads_one_review_per_line_from_stdin_skipping_blank_ones(trained, monkeypatch, capsys):
    lines = predicted(monkeypatch, capsys, ["--model", str(trained)], "great superb film\n\n  \nawful boring plot\n")
    assert [(label, review) for label, _, review in lines] == [
        ("positive", "great superb film"),
        ("negative", "awful boring plot"),
    ]


def test_many_reviews_are_classified_in_batches_as_one_at_a_time(trained, monkeypatch, capsys):
    words = POSITIVE_REVIEW.split() + NEGATIVE_REVIEW.split() + ["the", "plot", "actor", "scene"]
    reviews = [" ".join(words[(7 * index + step) % len(words)] for step in range(index % 40)) for index in range(2500)]
    reviews = [review or "film" for review in reviews]  # 1 to 39 words: each batch mixes lengths
    sizes, padded_batch = [], predict.padded_batch

    def counted_batch(chunk: list[list[int]], width: int):
        sizes.append(len(chunk))
        return padded_batch(chunk, width)

    monkeypatch.setattr(predict, "EVAL_BATCH_SIZE", 300)
    monkeypatch.setattr(predict, "padded_batch", counted_batch)
    lines = predicted(monkeypatch, capsys, ["--model", str(trained)], "\n".join(reviews) + "\n")
    assert sizes == [300] * 8 + [100]
    checkpoint = load_checkpoint(trained)
    alone = [predict.classify([review], checkpoint)[0] for review in reviews]
    assert [label for label, _, _ in lines] == [label for label, _ in alone]
    assert [float(probability) for _, probability, _ in lines] == pytest.approx([p for _, p in alone], abs=6e-5)
    assert len({label for label, _ in alone}) == 2


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


def test_no_review_is_a_message(trained, monkeypatch):
    monkeypatch.setattr("sys.argv", ["predict", "--model", str(trained)])
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    with pytest.raises(StageError, match="no review given"):
        predict.main()
