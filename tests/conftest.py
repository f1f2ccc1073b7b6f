"""Tiny archives in the aclImdb layout, built per test, and a scratch project to run stages in."""

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from filelock import FileLock

from imdb_rnn.core import paths
from imdb_rnn.training import environment

# The tests run on two workers (pytest -n 2, pyproject.toml), each training tiny models and starting
# DVC and Dask processes: one thread each, so that they never oversubscribe the CPU.
for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
# The stages' portable numerics, in effect before this process computes anything: the tests train and evaluate
# in process, after other computations, where environment.configure could no longer switch them on.
os.environ.update(environment.PORTABLE_NUMERICS)

PROJECT = Path(__file__).resolve().parent.parent

# The files that take longest, longest first (`pytest --durations`, 2-core build machine). pytest-xdist hands the
# files to its workers in collection order: the long ones first, so that the two workers finish together.
LONGEST_FILES = [
    "test_experiments.py",
    "test_grid.py",
    "test_regenerate.py",
    "test_bench.py",
    "test_exp_queue.py",
    "test_pipeline.py",
    "test_grid_slurm.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


POSITIVE = ["great", "wonderful", "moving", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "boring", "dull", "worst", "hated", "terrible"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "movie", "it", "was", "and", "a", "of"]


def review_text(rng: random.Random, label: str) -> str:
    cue = POSITIVE if label == "pos" else NEGATIVE
    words = [rng.choice(cue if rng.random() < 0.3 else FILLER) for _ in range(rng.randint(5, 40))]
    return " ".join(words).capitalize() + ".<br /><br />" + rng.choice(cue).upper() + "!"


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def build_archive(
    path: Path, per_label: int = 10, seed: int = 0, members: dict[str, bytes] | None = None, skip: tuple[str, ...] = ()
) -> Path:
    """An aclImdb_v1.tar.gz with `per_label` reviews in each of train/test x pos/neg, plus unsup and extras.

    `members` adds (or overrides) files by name; `skip` leaves out a split/label folder such as "test/neg".
    """
    rng = random.Random(seed)
    files: dict[str, bytes] = {"aclImdb/README": b"tiny test archive\n", "aclImdb/imdb.vocab": b"the\n"}
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            if f"{split}/{label}" in skip:
                continue
            for review_id in range(per_label):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                files[f"aclImdb/{split}/{label}/{review_id}_{rating}.txt"] = review_text(rng, label).encode()
    files["aclImdb/train/unsup/0_0.txt"] = b"unlabelled review that must be ignored zzzunsup"
    files.update(members or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            add_file(archive, name, data)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """Scratch copies of params.yaml and claims.yaml in a fresh directory that is the working directory; returns it."""
    for name in ("params.yaml", "claims.yaml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def set_params(root: Path, **changes) -> None:
    """Change top-level keys of root/params.yaml (a dict value replaces the whole key)."""
    params_file = root / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params.update(changes)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


PROJECT_FILES = (
    "bench",
    "claims.yaml",
    "dvc.yaml",
    "params.yaml",
    "stages",
    "imdb_rnn",
    "tools",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvc/plots",
    ".dvcignore",
    ".gitignore",
)


def run_command(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with this interpreter's environment first on PATH (so `python` is ours)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_dvc_project(base: Path, **params) -> Path:
    """A git + DVC copy of the project under `base`, its data source a tiny archive; returns its root."""
    root = base / "project"
    for name in PROJECT_FILES:
        source, target = PROJECT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    archive = build_archive(base / "source" / "aclImdb_v1.tar.gz", per_label=24)
    set_params(root, **{"data": {"sources": [{"url": str(archive), "md5": None}]}, **params})
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], GIT_COMMIT + ["-qm", "init"]):
        run_command(command, root)
    return root


GIT_COMMIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit"]


@pytest.fixture
def dvc_project(tmp_path) -> Path:
    return make_dvc_project(tmp_path)


TINY_MODEL = {"seq_len": 30, "vocab_size": 60, "embed_dim": 8, "hidden": 8, "epochs": 2, "batch_size": 8, "seeds": [0]}

REPRODUCED = {"epochs": 1, "archs": ["rnn", "lstm_manual"]}  # with TINY_MODEL: one seed of the report's central pair
REPRODUCED_RUNS = [paths.run_name(arch, seed) for arch in REPRODUCED["archs"] for seed in TINY_MODEL["seeds"]]


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, worker_id) -> Path:
    """The root of a tiny project after one whole `dvc repro`, left uncommitted (its one commit is the project
    before it); built once for both test workers. Tests read it, and change only a copy of it (copy_project)."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # under pytest-xdist: the session's folder, which the workers' own folders share
        shared = shared.parent
    shared /= "reproduced"
    with FileLock(f"{shared}.lock"):
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)  # a build that failed in the other worker
            run_command(["dvc", "repro", "-q"], make_dvc_project(shared, **TINY_MODEL | REPRODUCED))
            (shared / "built").touch()
    return shared / "project"


def copy_project(source: Path, target: Path) -> Path:
    """A copy of a git + DVC project (its workspace, git history and DVC cache), less DVC's locks and state."""
    shutil.copytree(source, target, symlinks=True, ignore=lambda folder, _: ["tmp"] if folder.endswith(".dvc") else [])
    return target


@pytest.fixture
def tokenized(project) -> Path:
    """`project` with a tiny archive already tokenized and small model params; returns its root."""
    from imdb_rnn.core.paths import RAW_ARCHIVE
    from stages import tokenize

    set_params(project, **TINY_MODEL)
    build_archive(project / RAW_ARCHIVE, per_label=24)
    tokenize.main()
    return project


EPOCHS = 3


def made_up_accuracy(arch: str, seed: int, split: str, epoch: int) -> float:
    """A made-up accuracy, different for every arch, seed, split and epoch."""
    return round(0.5 + 0.1 * epoch + (0.02 if split == "train" else 0) + 0.001 * len(arch) + 0.0001 * seed, 6)


N_REVIEWS = 10_000  # made-up test reviews per run: an accuracy of 4 decimals is an exact count


def made_up_correct(arch: str, seed: int, accuracy: float, epoch: str) -> np.ndarray:
    """round(accuracy * N_REVIEWS) reviews right, mostly the same easy ones for every run (as real runs agree)."""
    rng = np.random.default_rng(zlib.crc32(f"{arch}/{seed}/{epoch}".encode()))
    difficulty = np.linspace(0, 1, N_REVIEWS) + rng.uniform(0, 0.3, N_REVIEWS)
    right = np.zeros(N_REVIEWS, dtype=bool)
    right[np.argsort(difficulty, kind="stable")[: round(accuracy * N_REVIEWS)]] = True
    return right


def write_run(
    root: Path,
    arch: str,
    seed: int,
    test_acc: float = 0.8125,
    diverged: bool = False,
    epochs: int = EPOCHS,
    correct: dict[str, np.ndarray] | None = None,
) -> None:
    """What train@<arch>-<seed> and evaluate@<arch>-<seed> write, with made-up values (no training).

    The test predictions (`correct`: per epoch, best and last, which reviews are right) default to
    made_up_correct at test_acc and 0.01 below; given, they set both test accuracies.
    """
    import pandas as pd

    for split in ("train", "val"):
        steps = range(1, epochs + 1)
        values = {"acc": [made_up_accuracy(arch, seed, split, step) for step in steps], "loss": [1 / s for s in steps]}
        for metric, column in values.items():
            path = root / paths.epoch_log_file(arch, seed, split, metric)
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"step": steps, metric: column}).to_csv(path, sep="\t", index=False)
    summary = {"best_epoch": 2, "best_val_acc": 0.7, "train_minutes": 1.5, "diverged": diverged}
    summary |= {"torch": "2.0.0", "threads": 1, "device": "cpu", "cpu": "a test CPU"}  # where it ran
    (root / paths.train_summary_file(arch, seed)).write_text(json.dumps(summary))
    if correct is None:
        accuracies = {"best": test_acc, "last": round(test_acc - 0.01, 6)}
        correct = {epoch: made_up_correct(arch, seed, value, epoch) for epoch, value in accuracies.items()}
    test = {"test_acc": float(correct["best"].mean()), "final_test_acc": float(correct["last"].mean())}
    test |= {"test_loss": 0.35, "f1": 0.81}
    (root / paths.TEST_METRICS_DIR).mkdir(parents=True, exist_ok=True)
    (root / paths.test_metrics_file(arch, seed)).write_text(json.dumps(test))
    (root / paths.PREDICTIONS_DIR).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(root / paths.predictions_file(arch, seed), **correct)


def write_study(root: Path, accuracies: dict[str, list[float]], diverged: tuple[str, ...] = ()) -> None:
    """write_run for every arch and seed 0, 1, ...: accuracies[arch][seed] is its test accuracy."""
    for arch, values in accuracies.items():
        for seed, value in enumerate(values):
            write_run(root, arch, seed, test_acc=value, diverged=arch in diverged)


def processes_in(root: Path) -> list[str]:
    """The command lines of the processes (other than this one) whose working directory lies under root."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")).is_relative_to(root):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def interrupt_after_first_success(args: list[str], root: Path) -> tuple[int, str]:
    """Start a command that runs several trainings (imdb_rnn/experiments/processes.py), press Ctrl-C once one has succeeded;
    its exit status and output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = root.parent / f"{root.name}-interrupted.log"
    with log.open("w") as output:
        command = subprocess.Popen(args, cwd=root, env=env, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 300
            while "success: " not in log.read_text():
                assert command.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        finally:
            command.send_signal(signal.SIGINT)  # Ctrl-C
            exit_status = command.wait(timeout=90)
    return exit_status, log.read_text()
