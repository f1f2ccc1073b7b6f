"""The defaults train what they trained before the model space became params: weight for weight, every architecture."""

import platform
import subprocess
import sys

import pytest
import torch
from conftest import PROJECT
from safetensors.torch import load_file

from imdb_rnn.training.checkpoint import format_1_key

GOLDEN = PROJECT / "tests/data/golden_weights.safetensors"


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="portable numerics, hence the golden weights, are x86-64's",
)
def test_the_defaults_train_the_weights_saved_before_the_change(tmp_path):
    out = tmp_path / "weights.safetensors"
    trained = subprocess.run(
        [sys.executable, PROJECT / "tests/golden_training.py", out], capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr
    weights = load_file(out)
    golden = {}  # saved as "<arch>/<name>", each name as the model called it then (format 1)
    for name, tensor in load_file(GOLDEN).items():
        arch, key = name.split("/", 1)
        golden[f"{arch}/{format_1_key(key)}"] = tensor
    assert weights.keys() == golden.keys()
    different = [key for key in golden if not torch.equal(weights[key], golden[key])]
    assert not different, f"weights differ from the golden ones: {different}"
