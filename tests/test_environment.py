"""environment.configure: the portable-numerics setting takes effect before the first computation, or says why not."""

import subprocess
import sys

import pytest
from conftest import PROJECT

CONFIGURE = (
    "from imdb_rnn.training import environment; environment.configure(1, {portable}); print(environment.numerics())"
)


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


# A matrix product runs MKL, which reads its branch once, at its first call, on every x86-64 CPU. ATen reads its
# capability at its first kernel too, but on a CPU whose best is AVX2 a late cap at AVX2 changes nothing, so an
# elementwise op alone cannot show lateness there: ATEN_CPU_CAPABILITY=avx2 makes this CPU choose as such a one would.
MATRIX_PRODUCT = "import torch; torch.ones(2, 2) @ torch.ones(2, 2); "
AS_ON = {"this CPU": {}, "an AVX2-only CPU": {"ATEN_CPU_CAPABILITY": "avx2"}}


def needs_mkl() -> None:
    found = run("from imdb_rnn.training import environment; print(environment.mkl_branch())").stdout.strip()
    if found == "None":
        pytest.skip("torch has no MKL here (not x86-64): the portable-numerics setting does not apply")


@pytest.mark.parametrize("cpu", AS_ON)
def test_a_matrix_product_fixes_mkls_branch_on_any_cpu(cpu):
    needs_mkl()
    code = MATRIX_PRODUCT + "import os; os.environ['MKL_CBWR'] = 'COMPATIBLE'; "
    result = run(code + "from imdb_rnn.training import environment; print(environment.mkl_branch())", **AS_ON[cpu])
    assert result.stdout.strip() == "OFF", result.stderr


@pytest.mark.parametrize("cpu", AS_ON)
def test_too_late_is_an_error_that_says_why(cpu):
    needs_mkl()
    result = run(MATRIX_PRODUCT + CONFIGURE.format(portable=True), **AS_ON[cpu])
    assert result.returncode == 1 and "did not take effect" in result.stderr
    assert "call it first" in result.stderr


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_count_is_torchs(threads):
    code = f"import torch; from imdb_rnn.training import environment; environment.configure({threads}, True); "
    result = run(code + "print(torch.get_num_threads())")
    assert result.stdout.strip() == str(threads)
