"""Stage `download`: fetch the IMDB archive from the first of `data.sources` that gives it, verified.

    python -m stages.download

docs/pipeline.md ("download") says how the sources are tried, checked and recorded in
metrics/data_source.json, and why a relative path is resolved against DVC_ROOT (which DVC sets to the
original project's root, also under `dvc exp run --temp` and `--queue`; a grid cell's is its clone's).
"""

import json
import os
import re
import tarfile
import time
import zlib
from pathlib import Path

import aiohttp
import fsspec
from fsspec.callbacks import TqdmCallback
from fsspec.implementations.local import LocalFileSystem
from pydantic import Field, field_validator

from imdb_rnn.core.common import StageError, atomic_output, file_digest, run_stage
from imdb_rnn.core.params import StageParams, load_params
from imdb_rnn.core.paths import DATA_SOURCE_FILE, RAW_ARCHIVE


class Source(StageParams):
    url: str = Field(min_length=1)
    md5: str | None

    @field_validator("md5")
    @classmethod
    def _md5_or_null(cls, md5: str | None) -> str | None:
        if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            raise ValueError("should be an MD5 digest (32 hex digits) or null to skip the check")
        return md5


class DataParams(StageParams):
    sources: list[Source] = Field(min_length=1)


class Params(StageParams):
    data: DataParams


ATTEMPTS = 3
RETRY_DELAY_S = 2.0
# No limit on the whole transfer (the official archive is 84 MB, aiohttp's default total is 5 minutes),
# but a host that does not answer or stalls is given up.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)


class SourceFailed(Exception):
    """Why one source gave no usable archive; the stage goes on to the next."""


def project_root() -> Path:
    """The project root: DVC_ROOT under DVC (the original project even in a temp copy), else the working directory."""
    return Path(os.environ.get("DVC_ROOT") or ".")


def locate(url: str) -> str:
    """`url` as fsspec should open it: a relative local path joined to the project root."""
    if "://" in url:
        return url
    path = Path(url).expanduser()
    return str(path if path.is_absolute() else project_root() / path)


def describe(error: Exception) -> str:
    """A network error in a few words: aiohttp's own repr holds every header of the request."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status} {error.message}"
    return f"{type(error).__name__}: {error}"


def transfer(location: str, destination: Path, attempts: int = ATTEMPTS) -> None:
    """Copy `location` to `destination` with a progress bar, retrying network errors; SourceFailed if it cannot."""
    protocol = location.split("://", 1)[0] if "://" in location else "file"
    options = {"client_kwargs": {"timeout": HTTP_TIMEOUT}} if protocol in ("http", "https") else {}
    try:
        fs, path = fsspec.core.url_to_fs(location, **options)
    except (ValueError, ImportError) as error:
        raise SourceFailed(f"not a URL or path this stage can read ({error})") from None
    if isinstance(fs, LocalFileSystem) and not fs.isfile(path):
        raise SourceFailed(f"does not exist (no file at {path})")
    for attempt in range(1, attempts + 1):
        try:
            progress = TqdmCallback(tqdm_kwargs={"desc": "download", "unit": "B", "unit_scale": True})
            fs.get_file(path, str(destination), callback=progress)
            return
        except FileNotFoundError:  # an HTTP 404: retrying will not help
            raise SourceFailed("does not exist on its host (HTTP 404)") from None
        except Exception as error:  # network errors come from aiohttp and asyncio as well as OSError
            if attempt == attempts:
                raise SourceFailed(f"could not be fetched after {attempts} attempts ({describe(error)})") from None
            print(f"attempt {attempt} failed ({describe(error)}); retrying in {RETRY_DELAY_S * attempt:.0f} s")
            time.sleep(RETRY_DELAY_S * attempt)


def check_archive(path: Path, index: int, expected_md5: str | None) -> str:
    """The MD5 of `path`; SourceFailed unless it is `expected_md5` (when set) and `path` reads through as a gzip tar."""
    actual = file_digest(path, "md5")
    if expected_md5 is not None and actual != expected_md5.lower():
        raise SourceFailed(
            f"MD5 mismatch: expected {expected_md5}, got {actual}, so refused. If this is the archive you meant, "
            f"list its digest: dvc exp run -S data.sources.{index}.md5={actual} (or null to skip the check)"
        )
    try:
        with tarfile.open(path, "r:gz") as archive:
            for _ in archive:  # reading every header reaches the end, so truncation shows
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise SourceFailed(
            f"not a readable gzip tar archive ({error}); it may be truncated or not aclImdb_v1.tar.gz"
        ) from None
    return actual


def all_failed(failures: list[str]) -> StageError:
    listed = "\n  ".join(failures)
    return StageError(
        f"no source in data.sources of params.yaml gave the IMDB archive:\n  {listed}\n"
        "Check the network (the official URL needs internet), or use a copy of aclImdb_v1.tar.gz that you have: "
        "put it at a listed path (a relative path is relative to the project root), or list it first, e.g. "
        "dvc exp run -S 'data.sources=[{url:/path/to/aclImdb_v1.tar.gz,md5:null}]' (or edit params.yaml)."
    )


def main() -> None:
    params = load_params(Params)
    start = time.perf_counter()
    failures = []
    with atomic_output(RAW_ARCHIVE) as staged, atomic_output(DATA_SOURCE_FILE) as record:
        for index, source in enumerate(params.data.sources):
            location = locate(source.url)
            staged.unlink(missing_ok=True)
            try:
                transfer(location, staged)
                md5 = check_archive(staged, index, source.md5)
            except SourceFailed as why:
                failures.append(f"data.sources[{index}] {source.url}: {why}")
                print(f"download: skipped {failures[-1]}")
                continue
            used = {
                "url": source.url,
                "md5": md5,
                "sha256": file_digest(staged, "sha256"),
                "bytes": staged.stat().st_size,
                "source_index": index,
            }
            record.write_text(json.dumps(used, indent=2) + "\n")
            break
        else:
            raise all_failed(failures)
    print(
        f"download: data.sources[{index}] {source.url} (read at {location}) -> {RAW_ARCHIVE} "
        f"({used['bytes']:,} bytes, MD5 {md5}) in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    run_stage(main)
