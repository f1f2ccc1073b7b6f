"""Smoke test of bench/speed.py on a few dozen tiny random reviews: it runs and reports every field.

No timing is asserted: the numbers only have to be there and consistent.
"""

import json
import math
import sys

from conftest import PROJECT, run_command

from imdb_rnn.classifier import ARCHITECTURES

SCRIPT = PROJECT / "bench" / "speed.py"
TINY = ["--synthetic", "--reviews", "40", "--repeats", "1", "--seq-len", "30", "--hidden", "8", "--embed-dim", "8"]
TINY += ["--batch-size", "16", "--device", "cpu", "--threads", "1"]


def test_json_has_every_arch_mode_and_ratio():
    report = json.loads(run_command([sys.executable, str(SCRIPT), *TINY, "--json"], cwd=PROJECT).stdout)
    assert report["machine"]["device"] == "cpu" and report["machine"]["threads"] == 1
    assert {"cpu", "cores", "torch", "device_name", "date"} <= report["machine"].keys()
    config = report["config"]
    assert config["data"] == "synthetic" and config["reviews"] == 40 and config["seq_len"] == 30
    assert 40 * 10 <= config["tokens"] <= 40 * 30  # lengths clipped to [10, seq_len]

    results = {(result["arch"], result["mode"]): result for result in report["results"]}
    archs = list(ARCHITECTURES)
    assert results.keys() == {(arch, mode) for arch in archs for mode in ("project", "reference")}
    for result in results.values():
        for phase in ("train", "eval"):
            seconds = result[f"{phase}_seconds"]
            assert seconds > 0 and len(result[f"{phase}_seconds_runs"]) == 1
            assert math.isclose(result[f"{phase}_tokens_per_s"], config["tokens"] / seconds)

    manual = {row["manual"]: row for row in report["manual_vs_torch"]}
    assert {name: row["torch"] for name, row in manual.items()} == {
        arch: entry.twin for arch, entry in ARCHITECTURES.items() if entry.twin
    }
    for name, row in manual.items():
        expected = results[name, "project"]["train_seconds"] / results[row["torch"], "project"]["train_seconds"]
        assert math.isclose(row["train_ratio"], expected) and row["eval_ratio"] > 0
        assert row["goal"] == 1.25 and row["meets_goal"] == (row["train_ratio"] <= 1.25)
    speedups = {row["arch"]: row for row in report["reference_vs_project"]}
    assert speedups.keys() == set(archs)
    for arch, row in speedups.items():
        expected = results[arch, "reference"]["eval_seconds"] / results[arch, "project"]["eval_seconds"]
        assert math.isclose(row["eval_ratio"], expected) and row["train_ratio"] > 0


def test_tables_print_from_any_directory(tmp_path):
    args = [sys.executable, str(SCRIPT), *TINY, "--archs", "lstm", "lstm_manual"]
    output = run_command(args, cwd=tmp_path).stdout
    assert (
        output.startswith("machine: ") and "| lstm_manual | project" in output and "| lstm        | reference" in output
    )
    assert "manual / torch" in output and "reference / project" in output
