"""The defaults train what they trained before the model space became params: weight for weight, every architecture."""

import subprocess
import sys

import torch
from conftest import PROJECT
from safetensors.torch import load_file

from imdb_rnn.training.checkpoint import format_1_key

GOLDEN = PROJECT / "tests/data/golden_weights.safetensors"


def test_the_defaults_train_the_weights_saved_before_the_change(tmp_path):
    out = tmp_path / "weights.safetensors"
    subprocess.run([sys.executable, PROJECT / "tests/golden_training.py", out], check=True, capture_output=True)
    trained = load_file(out)
    golden = {}  # saved as "<arch>/<name>", each name as the model called it then (format 1)
    for name, tensor in load_file(GOLDEN).items():
        arch, key = name.split("/", 1)
        golden[f"{arch}/{format_1_key(key)}"] = tensor
    assert trained.keys() == golden.keys()
    different = [key for key in golden if not torch.equal(trained[key], golden[key])]
    assert not different, f"weights differ from the golden ones: {different}"
