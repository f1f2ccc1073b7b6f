"""imdb_rnn/experiments/processes.py: what the three runners share. Stopping a process tree (SIGINT once to
each process, also to one that appears while it waits; SIGKILL when overdue), the progress lines, and the one
line a signal ends a runner with. Tiny Python processes of this test, each ended by it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from imdb_rnn.experiments import processes
from imdb_rnn.experiments.processes import Progress, interruptible, stop


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def marking(name: str, markers: Path, then: str) -> str:
    """Python code that appends `name` to markers/sigint on each SIGINT (and goes on), says it is ready in
    markers/ready, then runs `then`."""
    return f"""
import pathlib, signal, subprocess, sys, time
markers = pathlib.Path({str(markers)!r})
signal.signal(signal.SIGINT, lambda *_: (markers / "sigint").open("a").write({name!r} + "\\n"))
(markers / "ready").open("a").write({name!r} + "\\n")
{then}
"""


def lines(path: Path) -> list[str]:
    return sorted(path.read_text().split()) if path.exists() else []


def wait_until_ready(markers: Path, names: list[str]) -> None:
    deadline = time.monotonic() + 30
    while lines(markers / "ready") != sorted(names):
        assert time.monotonic() < deadline, "the test's processes did not start"
        time.sleep(0.05)


def test_a_tree_that_outlives_its_time_gets_one_sigint_each_then_sigkill(tmp_path):
    child = marking("child", tmp_path, "time.sleep(60)")  # ignores SIGINT: marks it and sleeps on
    root = subprocess.Popen(python(marking("root", tmp_path, f"subprocess.run([sys.executable, '-c', {child!r}])")))
    try:
        wait_until_ready(tmp_path, ["child", "root"])
        (grandchild,) = psutil.Process(root.pid).children()
        started = time.monotonic()
        killed = stop([root.pid], seconds=1.5)
        assert 1.5 <= time.monotonic() - started < 15
        assert {process.pid for process in killed} == {root.pid, grandchild.pid}
        assert root.wait(timeout=5) == -signal.SIGKILL and processes.ended(grandchild)
        assert lines(tmp_path / "sigint") == ["child", "root"]  # once each, though they ignored it
    finally:
        root.kill()


def test_sparing_the_roots_interrupts_only_their_children_also_one_started_while_it_waits(tmp_path):
    """As a `dvc repro` is stopped: its stage gets SIGINT, it does not; it starts its next stage, which gets one."""
    stage = python("import time; time.sleep(60)")
    two_stages = (
        f"codes = [subprocess.run({stage!r}).returncode for _ in range(2)]\n(markers / 'codes').write_text(str(codes))"
    )
    root = subprocess.Popen(python(marking("root", tmp_path, two_stages)))
    try:
        wait_until_ready(tmp_path, ["root"])
        while not psutil.Process(root.pid).children():
            time.sleep(0.05)
        started = time.monotonic()
        assert stop([root.pid], spare_roots=True) == []
        assert time.monotonic() - started < 30
        assert root.wait(timeout=5) == 0 and not (tmp_path / "sigint").exists()  # the root: no SIGINT, ended itself
        assert (tmp_path / "codes").read_text() == f"[{-signal.SIGINT}, {-signal.SIGINT}]"  # each stage: SIGINT
    finally:
        root.kill()


def test_progress_shows_each_start_and_end_in_the_runners_words_and_a_line_in_a_log(capsys, monkeypatch):
    monkeypatch.setattr(processes, "LOG_SECONDS", 0.0)
    progress = Progress(["a", "b", "c"], jobs=2)
    progress.update(["a", "b"], {})
    progress.update(["b"], {"a": "landed"})
    progress.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["started: a", "started: b", "done 0/3; running: a 0:00, b 0:00; waiting: 1"]
    assert lines[3:] == ["landed: a (0:00)", "done 1/3; running: b 0:00; waiting: 1"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_runner_with_one_line_after_its_cleanup_which_a_second_one_does_not_cut(signum, capsys):
    before = {each: signal.getsignal(each) for each in (signal.SIGINT, signal.SIGTERM)}
    cleaned_up = False
    with pytest.raises(SystemExit) as exit_status, interruptible():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(10)  # the handler raises here
        except BaseException:
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: ignored while the runner stops its runs
            time.sleep(0.1)
            cleaned_up = True
            raise
    assert exit_status.value.code == 128 + signum and cleaned_up
    name = signal.Signals(signum).name
    assert capsys.readouterr().err == (
        f"interrupted ({name}): every run it started was stopped; run the same command to resume\n"
    )
    assert {each: signal.getsignal(each) for each in (signal.SIGINT, signal.SIGTERM)} == before
