"""What every stage shares: its error type, its entry point, atomic outputs, reading inputs, file digests."""

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class StageError(Exception):
    """A failure the user can fix: the message says what failed, which value, and what to do."""


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a StageError becomes a one-paragraph message and exit status 1.

    SIGTERM (a killed `dvc exp run`, a cancelled queue task) exits like Ctrl-C, through every
    `finally`, so atomic_output removes its temporary files.
    """
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        main()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only if the block succeeds.

    A stage that fails half way therefore never leaves a partial file or directory
    where its output belongs, and an earlier output stays until the new one is whole.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staged = scratch / target.name
    try:
        yield staged
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def missing_input(path: Path, stage: str) -> StageError:
    """The error for an input file that stage `stage` writes and that is not there."""
    return StageError(
        f"{path} not found: it is written by stage {stage}; run `dvc repro {stage}` (or `dvc repro` for everything)"
    )


def read_json(path: Path, stage: str) -> dict:
    """The JSON file `path`, which stage `stage` writes; StageError if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise missing_input(path, stage) from None
    except json.JSONDecodeError as error:
        raise StageError(f"{path} is not valid JSON ({error}): rewrite it with `dvc repro --force {stage}`") from None
