"""bench/: the reviews timed on, the ratios from timings, `python -m bench.speed`, the GPU script's steps on the CPU,
and the reproducibility check's comparison.

No real timing is asserted: the ratios are checked on made-up timings, the commands on tiny data.
"""

import io
import json
import sys
from collections import Counter

import numpy as np
import pytest
import torch
import yaml
from conftest import PROJECT, run_command, write_run

from bench import gpu, reproducibility, speed, timing
from bench.clones import run_in
from bench.reviews import MIN_LENGTH, load_reviews, synthetic_split
from imdb_rnn.analysis.aggregated import pack_correct
from imdb_rnn.core.common import StageError, run_stage
from imdb_rnn.core.params import load_params
from imdb_rnn.core.paths import PARAMS_FILE, PROCESSED_DIR, VOCAB_FILE
from imdb_rnn.training.data import load_split, load_vocab
from stages import train

TINY = ["--synthetic", "--reviews", "40", "--repeats", "1", "--seq-len", "30", "--hidden", "8", "--embed-dim", "8"]
TINY += ["--batch-size", "16", "--device", "cpu", "--threads", "1"]
CPU = torch.device("cpu")


def timings(train: dict[str, float], evaluation: dict[str, float]) -> list[dict]:
    """measure's results with made-up seconds, per arch: two rounds, 10% apart, the median between."""
    return [
        {
            "arch": arch,
            "train_seconds": seconds,
            "eval_seconds": evaluation[arch],
            "train_seconds_runs": [seconds * 0.95, seconds * 1.05],
            "eval_seconds_runs": [evaluation[arch] * 0.95, evaluation[arch] * 1.05],
        }
        for arch, seconds in train.items()
    ]


TRAIN, EVAL = {"lstm": 4.0, "lstm_manual": 6.0}, {"lstm": 2.0, "lstm_manual": 3.0}


def test_ratios_of_made_up_timings():
    assert timing.manual_vs_torch(timings(TRAIN, EVAL), CPU) == [
        {
            "manual": "lstm_manual",
            "torch": "lstm",
            "train_ratio": 1.5,
            "train_ratio_runs": pytest.approx([1.5, 1.5]),  # round by round
            "eval_ratio": 1.5,
            "eval_ratio_runs": pytest.approx([1.5, 1.5]),
            "goal": 1.0,
            "meets_goal": False,
        }
    ]


def test_the_ratios_spread_is_that_of_the_rounds():
    results = timings(TRAIN, EVAL)
    results[1]["train_seconds_runs"] = [5.4, 6.6]  # lstm_manual: against lstm's 3.8 and 4.2
    (found,) = timing.manual_vs_torch(results, CPU)
    assert found["train_ratio_runs"] == pytest.approx([5.4 / 3.8, 6.6 / 4.2])


@pytest.mark.parametrize(
    ("arch", "train", "evaluation", "expected", "meets_goal"),
    [
        ("lstm_manual", 4.0, 2.0, 1.0, True),  # exactly the goal, train and eval: met
        ("lstm_manual", 4.0, 3.0, 1.0, False),  # trains within the goal but evaluates slower: not met
        ("lstm", 8.0, 4.0, 0.75, True),  # the twin's time is the denominator
    ],
)
def test_a_changed_timing_changes_its_ratio_only(arch, train, evaluation, expected, meets_goal):
    (found,) = timing.manual_vs_torch(timings({**TRAIN, arch: train}, {**EVAL, arch: evaluation}), CPU)
    assert found["train_ratio"] == expected and found["meets_goal"] == meets_goal


def test_a_manual_layer_without_its_twin_measured_has_no_ratio():
    assert timing.manual_vs_torch(timings({"lstm_manual": 6.0}, EVAL), CPU) == []


def test_measure_interleaves_every_loop_in_each_round_deterministic_and_restores_the_setting(monkeypatch):
    calls = []

    def loops(arch, *_):  # loops that record (arch, train/eval, the deterministic setting) instead of running
        def loop(part):
            return lambda: calls.append((arch, part, torch.are_deterministic_algorithms_enabled()))

        return loop("train"), loop("eval")

    monkeypatch.setattr(timing, "project_loops", loops)
    setup = timing.Setup(8, 8, 16, 0.01, 0.0, CPU, repeats=2)
    assert not torch.are_deterministic_algorithms_enabled()
    timing.measure(["lstm", "lstm_manual"], {"lengths": torch.tensor([5])}, 50, setup)
    assert not torch.are_deterministic_algorithms_enabled()
    one_round = [(arch, part, True) for arch in ("lstm", "lstm_manual") for part in ("train", "eval")]
    assert calls == one_round * 2  # deterministic, as stages/train.py trains


def test_measure_reports_the_median_and_real_tokens(monkeypatch):
    seconds = iter([3.0, 0.5, 1.0, 0.9, 1.5, 0.6])  # train, eval of round 1, of round 2, ...
    monkeypatch.setattr(timing, "project_loops", lambda *_: (None, None))
    monkeypatch.setattr(timing, "timed", lambda run, device: next(seconds))
    split = {"lengths": torch.tensor([30, 10, 60])}  # 100 real tokens, whatever the padded length
    setup = timing.Setup(8, 8, 16, 0.01, 0.0, CPU, repeats=3)
    (result,) = timing.measure(["lstm"], split, 50, setup)
    assert (result["train_seconds"], result["eval_seconds"]) == (1.5, 0.6)  # not the means
    assert result["train_seconds_runs"] == [3.0, 1.0, 1.5] and result["eval_seconds_runs"] == [0.5, 0.9, 0.6]
    assert result["train_tokens_per_s"] == pytest.approx(100 / 1.5)
    assert result["eval_tokens_per_s"] == pytest.approx(100 / 0.6)


def test_synthetic_reviews_are_right_padded_with_lengths_around_imdbs_median():
    split = synthetic_split(2000, 400, 50, torch.Generator().manual_seed(0))
    lengths = split["lengths"]
    assert lengths.min() >= MIN_LENGTH and lengths.max() == 400 and 150 <= lengths.median() <= 200
    real = torch.arange(400) < lengths.unsqueeze(1)
    assert (split["ids"][real] >= 2).all() and (split["ids"][real] < 50).all() and (split["ids"][~real] == 0).all()
    assert split["labels"].unique().tolist() == [0, 1]


def test_the_real_split_is_reused_when_more_reviews_are_asked_for(tokenized):
    split, vocab_size, source = load_reviews(tokenized, 100, 0, synthetic=False, seq_len=30, vocab_size=60)
    assert source == "data/processed/train.safetensors" and vocab_size == len(load_vocab(tokenized / VOCAB_FILE))
    available = load_split("train", tokenized / PROCESSED_DIR)
    times = Counter(tuple(row) for row in split["ids"].tolist())
    assert sorted(times) == sorted(tuple(row) for row in available["ids"].tolist())  # 44 reviews, 100 rows
    assert set(times.values()) == {2, 3} and split["lengths"].sum() == (split["ids"] != 0).sum()


def test_synthetic_reviews_even_where_the_real_split_exists(tokenized):
    split, vocab_size, source = load_reviews(tokenized, 10, 0, synthetic=True, seq_len=30, vocab_size=60)
    assert (source, vocab_size, split["ids"].shape) == ("synthetic", 62, (10, 30))


def test_json_report_on_tiny_synthetic_data(capsys):
    # In this process torch has computed already, so portable numerics could not take effect: off.
    speed.main([*TINY, "--archs", "lstm_manual", "lstm", "--json", "--no-portable-numerics"])
    report = json.loads(capsys.readouterr().out)
    assert {"cpu", "cores", "torch", "threads", "device", "python", "date"} <= report["machine"].keys()
    assert report["machine"]["device"] == "cpu" and report["machine"]["threads"] == 1
    config = report["config"]
    assert (config["data"], config["reviews"], config["seq_len"], config["repeats"]) == ("synthetic", 40, 30, 1)
    assert MIN_LENGTH * 40 <= config["tokens"] <= 30 * 40
    results = {row["arch"]: row for row in report["results"]}
    assert list(results) == ["lstm_manual", "lstm"]
    for row in results.values():
        assert len(row["train_seconds_runs"]) == len(row["eval_seconds_runs"]) == 1
        assert row["train_seconds"] > 0 and row["eval_tokens_per_s"] > 0
    assert [(row["manual"], row["torch"]) for row in report["manual_vs_torch"]] == [("lstm_manual", "lstm")]


def test_sizes_threads_and_numerics_default_to_the_studys():
    study = load_params(train.Params, PROJECT / PARAMS_FILE)
    args = speed.parse_args([])
    assert (args.hidden, args.batch_size, args.threads, args.portable_numerics, args.lr) == (
        study.hidden,
        study.batch_size,
        study.threads,
        study.portable_numerics,
        study.lr,
    )
    assert not speed.parse_args(["--no-portable-numerics"]).portable_numerics
    assert speed.parse_args(["--portable-numerics"]).portable_numerics


def test_the_module_prints_tables(tmp_path):
    command = [sys.executable, "-m", "bench.speed", *TINY, "--archs", "rnn", "rnn_manual", "--portable-numerics"]
    output = run_command(command, PROJECT).stdout
    assert output.startswith("machine: ") and "MKL COMPATIBLE, ATen AVX2, oneDNN off" in output.splitlines()[0]
    assert "| rnn_manual |" in output and "| rnn        |" in output
    assert "manual / torch" in output and "train_range" in output


def test_the_gpu_script_runs_its_steps_on_the_cpu_through_dvc_and_says_no_gpu(reproduced, tmp_path):
    out = tmp_path / "gpu-out"
    command = [sys.executable, "-m", "bench.gpu", str(out), "--device", "cpu", "--project", str(reproduced)]
    run_command([*command, "--epochs", "1", "--repeat-arch", "lstm_manual"], PROJECT)
    report = json.loads((out / "gpu.json").read_text())
    assert report["machine"]["device"] == "cpu" and report["identical"]
    assert [row["arch"] for row in report["pipeline"]] == ["rnn", "lstm_manual"]  # the tiny project's archs
    assert all(0 <= row["test_acc"] <= 1 and row["dvc_repro_seconds"] > 0 for row in report["pipeline"])
    assert report["speed"]["config"]["data"] == "synthetic" and report["speed"]["manual_vs_torch"]
    page = (out / "gpu.md").read_text()
    assert "**No GPU**" in page and "| lstm_manual |" in page and "trained twice: identical model files" in page
    assert not list(reproduced.parent.glob("bench-clone.*")) and not list(tmp_path.glob("bench-*"))  # removed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--repeat-arch", "nope"], "--repeat-arch 'nope' is not in params.yaml's archs"),
        (["--project", "."], "no tokenized data in data/processed"),
    ],
)
def test_the_gpu_script_refuses_bad_options_by_name(reproduced, tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match=message):
        gpu.main([str(tmp_path / "out"), "--device", "cpu", "--project", str(reproduced), *options])
    assert not (tmp_path / "out").exists()


def test_a_failed_command_in_a_clone_says_so_with_its_output(tmp_path):
    failing = [sys.executable, "-c", "import sys; print('the stage broke'); sys.exit(3)"]
    with pytest.raises(StageError, match=r"failed in a clone \(3\):\nthe stage broke"):
        run_in(tmp_path, failing)


def study_of(right: dict[str, np.ndarray]) -> bytes:
    """A correct.npz's bytes whose seed 0 of each arch has `right` at both epochs."""
    runs = {arch: {0: {"test_acc": correct, "final_test_acc": correct}} for arch, correct in right.items()}
    saved = io.BytesIO()
    np.savez_compressed(saved, **pack_correct({"": runs}))
    return saved.getvalue()


@pytest.fixture
def regenerated(tmp_path):
    """A clone's seed-0 runs of rnn and gru, made up, and their results per review."""
    (tmp_path / PARAMS_FILE).write_text(yaml.safe_dump({"archs": ["rnn", "gru"]}))
    right = {arch: np.random.default_rng(index).random(50) < 0.8 for index, arch in enumerate(["rnn", "gru"])}
    for arch, correct in right.items():
        write_run(tmp_path, arch, 0, correct={"best": correct, "last": correct})
    return tmp_path, right


def test_the_check_passes_when_every_review_is_identical(regenerated, capsys):
    clone, right = regenerated
    run_stage(lambda: reproducibility.compare(clone, study_of(right)))
    assert capsys.readouterr().out.splitlines() == [
        f"{arch} seed 0: best-validation epoch: identical; last epoch: identical" for arch in ("rnn", "gru")
    ]


def test_the_check_exits_1_on_one_review_that_differs(regenerated, capsys):
    clone, right = regenerated
    changed = right["gru"].copy()
    changed[7] = not changed[7]
    with pytest.raises(SystemExit) as exit_status:
        run_stage(lambda: reproducibility.compare(clone, study_of({**right, "gru": changed})))
    assert exit_status.value.code == 1
    out, err = capsys.readouterr()
    assert "gru seed 0: best-validation epoch: 1 of 50 reviews differ; last epoch: 1 of 50 reviews differ" in out
    assert "rnn seed 0: best-validation epoch: identical" in out and "does not reproduce" in err


def test_the_check_names_a_run_the_committed_study_lacks(regenerated):
    clone, right = regenerated
    with pytest.raises(StageError, match="the committed study has no gru seed 0"):
        reproducibility.compare(clone, study_of({"rnn": right["rnn"]}))
