"""tools.regenerate: N `dvc repro` of the training runs at once, the workspace then exactly what a plain
`dvc repro` leaves, an interruption that leaves nothing running and nothing partial, and resumes.

Three copies of one tiny project, each with the same archive: one reproduced by `dvc repro`, one by the
command, one by the command interrupted after its first finished run and then run again.
"""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPRODUCED_RUNS, interrupt_after_first_success, processes_in, run_command

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import RUNS_FILE
from tools.regenerate import AtOnce, interrupt, lock_without_timings, longest_first


def regenerate(root: Path, *options: str) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-m", "tools.regenerate", "-j", "2", *options], root)


@pytest.fixture(scope="module")
def projects(reproduced, tmp_path_factory) -> dict[str, Path]:
    """The project reproduced by plain `dvc repro`, and a fresh clone of it (before) for each way of running the command."""
    base = tmp_path_factory.mktemp("regenerate")
    for name in ("command", "interrupted"):
        run_command(["git", "clone", "-q", str(reproduced), str(base / name)], base)
    return {"plain": reproduced, "command": base / "command", "interrupted": base / "interrupted"}


def test_the_command_leaves_what_dvc_repro_leaves(projects):
    output = regenerate(projects["command"]).stdout
    assert set(output.split("to train, 2 at once: ")[1].splitlines()[0].split(", ")) == set(REPRODUCED_RUNS)
    root = projects["command"]
    assert lock_without_timings(root / "dvc.lock") == lock_without_timings(projects["plain"] / "dvc.lock")
    models = [f"models/{run}.pt" for run in REPRODUCED_RUNS]
    for output_file in (*models, "metrics/summary.json", "metrics/correct.npz"):
        assert (root / output_file).read_bytes() == (projects["plain"] / output_file).read_bytes(), output_file
    assert "up to date" in run_command(["dvc", "status"], root).stdout
    assert processes_in(root) == []


def test_an_interrupted_command_stops_everything_then_resumes(projects):
    root = projects["interrupted"]
    exit_status, log = interrupt_after_first_success([sys.executable, "-m", "tools.regenerate", "-j", "1"], root)
    assert exit_status == 130, log
    assert "run the same command to resume" in log
    assert processes_in(root) == []
    finished = log.split("success: ")[1].split()[0]
    interrupted = (set(REPRODUCED_RUNS) - {finished}).pop()
    assert (root / f"models/{finished}.pt").exists()
    status = run_command(["dvc", "status"], root).stdout  # a stage's outputs are written whole (common.py)
    assert f"evaluate@{interrupted}" in status and f"evaluate@{finished}" not in status
    output = regenerate(root).stdout
    assert f"to train, 2 at once: {interrupted}\n" in output  # the finished run is in dvc.lock: not trained again
    assert lock_without_timings(root / "dvc.lock") == lock_without_timings(projects["plain"] / "dvc.lock")
    assert "up to date" in run_command(["dvc", "status"], root).stdout
    assert processes_in(root) == []


def test_a_wrong_job_count_is_refused_by_name(projects):
    result = run_command([sys.executable, "-m", "tools.regenerate", "-j", "0"], projects["plain"], check=False)
    assert result.returncode == 1
    assert "-j 0" in result.stderr and "Traceback" not in result.stderr


def test_runs_are_queued_longest_first_by_their_last_training_minutes_unknown_ones_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = ["gru-0", "lstm-0", "rnn-0", "rnn-1"]
    assert longest_first(runs) == runs  # no results yet: every time unknown, the order kept
    RUNS_FILE.parent.mkdir(parents=True)
    RUNS_FILE.write_text("arch,seed,train_minutes\nrnn,0,1.7\ngru,0,6.1\nlstm,0,3.2\n")
    assert longest_first(runs) == ["rnn-1", "gru-0", "lstm-0", "rnn-0"]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def like_dvc(stage: str, markers: Path) -> list[str]:
    """A command shaped like `dvc repro`: it runs `stage` (python code) in a child, writes markers/stage-status with
    the child's exit status, and marks markers/dvc-interrupted if a SIGINT reaches it."""
    code = f"""
import pathlib, signal, subprocess, sys
markers = pathlib.Path({str(markers)!r})
signal.signal(signal.SIGINT, lambda *_: (markers / "dvc-interrupted").touch())
status = subprocess.run([sys.executable, "-c", {stage!r}]).returncode
(markers / "stage-status").write_text(str(status))
"""
    return python(code)


def test_an_interruption_reaches_the_stage_never_dvc_itself(tmp_path):
    """DVC ignores SIGINT while its stage runs, not in its own bookkeeping, where one can cut its lock file short."""
    command = subprocess.Popen(like_dvc("import time; time.sleep(60)", tmp_path))
    while not psutil.Process(command.pid).children():
        time.sleep(0.05)
    started = time.monotonic()
    interrupt([command])
    assert time.monotonic() - started < 30 and command.wait(timeout=5) == 0  # it ended; its parent reaps it
    assert (tmp_path / "stage-status").read_text() != "0" and not (tmp_path / "dvc-interrupted").exists()


def test_a_failed_command_stops_the_others_and_names_its_log(tmp_path):
    stage = f"import time, pathlib\ntry:\n    time.sleep(60)\nfinally:\n    pathlib.Path({str(tmp_path)!r}, 'ended').touch()"
    commands = {
        "slow": like_dvc(stage, tmp_path),
        "fails": python("import time; time.sleep(1); print('what went wrong'); raise SystemExit(3)"),
    }
    commands["never"] = python("raise SystemExit(0)")  # waits behind the two: never started
    started = time.monotonic()
    with pytest.raises(StageError, match="fails failed: see .*fails.log; the others were stopped"):
        AtOnce(commands, jobs=2, log_dir=tmp_path / "logs").run()
    assert time.monotonic() - started < 30 and (tmp_path / "ended").exists()  # slow's stage ended through `finally`
    assert not (tmp_path / "dvc-interrupted").exists()
    assert (tmp_path / "logs/fails.log").read_text() == "what went wrong\n"
    assert not (tmp_path / "logs/never.log").exists()
