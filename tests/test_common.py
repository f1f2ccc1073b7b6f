import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PROJECT

from imdb_rnn.core.common import StageError, atomic_output, file_digest, run_stage


def test_atomic_output_moves_into_place_only_on_success(tmp_path):
    target = tmp_path / "out" / "result.txt"
    with atomic_output(target) as staged:
        staged.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_output(target) as staged:
        staged.write_text("half")
        raise RuntimeError("failed half way")
    assert target.read_text() == "first" and sorted(p.name for p in target.parent.iterdir()) == ["result.txt"]


def test_atomic_output_replaces_a_directory_whole(tmp_path):
    target = tmp_path / "plots"
    target.mkdir()
    (target / "old.csv").write_text("old")
    with atomic_output(target) as staged:
        staged.mkdir()
        (staged / "new.csv").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.csv"]


def test_a_stage_error_is_a_message_and_exit_status_1(capsys):
    def main():
        raise StageError("hidden = 0: must be positive")

    with pytest.raises(SystemExit) as exit_info:
        run_stage(main)
    assert exit_info.value.code == 1 and capsys.readouterr().err == "error: hidden = 0: must be positive\n"


def test_a_terminated_stage_leaves_no_temporary_output(tmp_path):
    script = (
        "import time\nfrom pathlib import Path\nfrom imdb_rnn.core.common import atomic_output, run_stage\n"
        "def main():\n"
        "    with atomic_output(Path('out/result.txt')) as staged:\n"
        "        staged.write_text('partial')\n"
        "        print('ready', flush=True)\n"
        "        time.sleep(60)\n"
        "run_stage(main)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 5
    while list((tmp_path / "out").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((tmp_path / "out").iterdir()) == []


def test_file_digest(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert file_digest(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(b"x" * 3_000_000).hexdigest()
