"""Stage `download`: fetch the IMDB archive named by `data.url` into data/raw/, verified.

`data.url` may be an http(s) URL, a file:// URL or a local path (fsspec opens all three).
The file is written beside its destination under a temporary name, checked (MD5 when
`data.md5` is set, then read through as a gzip tar), and only then moved into place.
"""

import json
import re
import tarfile
import time
import zlib
from pathlib import Path

import fsspec
from fsspec.callbacks import TqdmCallback
from pydantic import Field, field_validator

from imdb_rnn.common import StageError, atomic_output, file_digest, run_stage
from imdb_rnn.params import StageParams, load_params
from imdb_rnn.paths import DATA_SOURCE_FILE, RAW_ARCHIVE


class DataParams(StageParams):
    url: str = Field(min_length=1)
    md5: str | None

    @field_validator("md5")
    @classmethod
    def _md5_or_null(cls, md5: str | None) -> str | None:
        if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            raise ValueError("should be an MD5 digest (32 hex digits) or null to skip the check")
        return md5


class Params(StageParams):
    data: DataParams


ATTEMPTS = 3
RETRY_DELAY_S = 2.0


def transfer(url: str, destination: Path, attempts: int = ATTEMPTS) -> None:
    """Copy `url` to `destination` with a progress bar, retrying transient network errors."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as error:
        raise StageError(f"data.url = {url!r} is not a URL or path this stage can read ({error})") from None
    for attempt in range(1, attempts + 1):
        try:
            progress = TqdmCallback(tqdm_kwargs={"desc": "download", "unit": "B", "unit_scale": True})
            fs.get_file(path, str(destination), callback=progress)
            return
        except FileNotFoundError:
            raise StageError(
                f"data.url = {url!r} does not exist. Check the path, or point data.url at a copy of "
                "aclImdb_v1.tar.gz: dvc exp run -S data.url=/path/to/aclImdb_v1.tar.gz"
            ) from None
        except Exception as error:  # network errors come from aiohttp and asyncio as well as OSError
            if attempt == attempts:
                raise StageError(
                    f"could not fetch data.url = {url!r} after {attempts} attempts: {error!r}. "
                    "Check the URL and the network, or point data.url at a local copy: "
                    "dvc exp run -S data.url=/path/to/aclImdb_v1.tar.gz -S data.md5=<its md5>"
                ) from None
            print(f"attempt {attempt} failed ({error!r}); retrying in {RETRY_DELAY_S * attempt:.0f} s")
            time.sleep(RETRY_DELAY_S * attempt)


def check_archive(path: Path, url: str, expected_md5: str | None) -> None:
    """Raise StageError unless `path` has the expected MD5 and reads through as a gzip tar."""
    if expected_md5 is not None:
        actual = file_digest(path, "md5")
        if actual != expected_md5.lower():
            raise StageError(
                f"MD5 mismatch for data.url = {url!r}: expected {expected_md5}, got {actual}. "
                f"If this is the archive you meant, set data.md5 to its digest (dvc exp run -S data.md5={actual}) "
                "or to null to skip the check."
            )
    try:
        with tarfile.open(path, "r:gz") as archive:
            for _ in archive:  # reading every header reaches the end, so truncation shows
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise StageError(
            f"data.url = {url!r} is not a readable gzip tar archive ({error}). "
            "Download it again, or point data.url at an intact aclImdb_v1.tar.gz."
        ) from None


def main() -> None:
    params = load_params(Params)
    url, md5 = params.data.url, params.data.md5
    start = time.perf_counter()
    with atomic_output(RAW_ARCHIVE) as staged, atomic_output(DATA_SOURCE_FILE) as record:
        transfer(url, staged)
        check_archive(staged, url, md5)
        source = {"url": url, "md5": file_digest(staged, "md5"), "bytes": staged.stat().st_size}
        record.write_text(json.dumps(source, indent=2) + "\n")
    print(
        f"download: {url} -> {RAW_ARCHIVE} ({RAW_ARCHIVE.stat().st_size:,} bytes) in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    run_stage(main)
