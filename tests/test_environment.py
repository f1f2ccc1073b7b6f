"""environment.configure: the portable-numerics setting takes effect before the first computation, or says why not."""

import subprocess
import sys

import pytest
from conftest import PROJECT

CONFIGURE = "from imdb_rnn import environment; environment.configure(1, {portable}); print(environment.numerics())"


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", **env}  # none of the test process's numerics variables
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=clean, capture_output=True, text=True)


def test_portable_numerics_take_effect_before_the_first_computation():
    result = run(CONFIGURE.format(portable=True))
    assert result.returncode == 0, result.stderr
    assert "'mkl_branch': 'COMPATIBLE', 'aten_capability': 'AVX2', 'onednn': False" in result.stdout


def test_without_them_each_library_chooses_for_this_cpu():
    result = run(CONFIGURE.format(portable=False))
    assert result.returncode == 0, result.stderr
    assert "'mkl_branch': 'OFF'" in result.stdout and "'onednn': True" in result.stdout


def test_too_late_is_an_error_that_says_why():
    code = "import torch; torch.ones(2).sigmoid(); " + CONFIGURE.format(portable=True)
    result = run(code)
    assert result.returncode == 1 and "did not take effect" in result.stderr
    assert "call it first" in result.stderr


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_count_is_torchs(threads):
    code = f"import torch; from imdb_rnn import environment; environment.configure({threads}, True); "
    result = run(code + "print(torch.get_num_threads())")
    assert result.stdout.strip() == str(threads)
