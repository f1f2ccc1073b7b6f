"""Train a tiny classifier of every architecture at params.yaml's defaults; save the weights of each.

    python tests/golden_training.py OUT.safetensors

Run as its own process (portable numerics must be set before torch computes anything) by
tests/test_golden.py, which compares the weights with tests/data/golden_weights.safetensors: the weights
the code trained before the model space became params. So a new param whose default changes any
computation of the study, an init draw, a dropout mask or an optimizer step, fails that test.
"""

import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
from dvclive import Live  # noqa: E402
from safetensors.numpy import save_file as save_arrays  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from imdb_rnn import architectures  # noqa: E402
from imdb_rnn.core.params import load_params  # noqa: E402
from imdb_rnn.core.paths import PROCESSED_DIR, split_file  # noqa: E402
from stages import train  # noqa: E402

TINY = {"embed_dim": 8, "hidden": 8, "epochs": 2, "batch_size": 8, "device": "cpu"}  # the golden run's device
VOCAB, SEQ_LEN = 40, 12


def write_tiny_splits() -> None:
    """Random reviews of random lengths in data/processed/ of the current directory (train 48, val 16)."""
    rng = np.random.default_rng(0)
    PROCESSED_DIR.mkdir(parents=True)
    for split, size in {"train": 48, "val": 16}.items():
        lengths = rng.integers(1, SEQ_LEN + 1, size)
        ids = rng.integers(2, VOCAB, (size, SEQ_LEN)).astype(np.int32)
        ids[np.arange(SEQ_LEN) >= lengths[:, None]] = 0
        labels = rng.integers(0, 2, size)
        save_arrays({"ids": ids, "lengths": lengths, "labels": labels}, str(split_file(split)))


def main(out: Path) -> None:
    params = load_params(train.Params, PROJECT / "params.yaml").model_copy(update=TINY)
    weights = {}
    with tempfile.TemporaryDirectory() as directory:
        os.chdir(directory)
        write_tiny_splits()
        for arch in architectures.NAMES:
            with Live("live", dvcyaml=None, save_dvc_exp=False, report=None) as live:
                fitted = train.fit(arch, 0, params, VOCAB, live)
            weights |= {f"{arch}/{key}": tensor for key, tensor in fitted.model.state_dict().items()}
    save_file(weights, str(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
