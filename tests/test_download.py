import gzip
import hashlib
import tarfile

import pytest
from conftest import build_archive, set_params

from imdb_rnn.common import StageError
from imdb_rnn.paths import RAW_ARCHIVE
from stages import download


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("source") / "aclImdb_v1.tar.gz")


def raw_dir_is_empty(root):
    raw = root / "data" / "raw"
    return not raw.exists() or not any(raw.iterdir())


@pytest.mark.parametrize("as_url", [False, True])
def test_fetches_a_local_path_or_file_url_and_verifies_it(project, archive, as_url):
    url = archive.as_uri() if as_url else str(archive)
    set_params(project, data={"url": url, "md5": md5(archive)})
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert [p.name for p in (project / "data" / "raw").iterdir()] == ["aclImdb_v1.tar.gz"]


def test_md5_null_skips_the_check(project, archive):
    set_params(project, data={"url": str(archive), "md5": None})
    download.main()
    assert (project / RAW_ARCHIVE).exists()


def test_md5_mismatch_says_expected_actual_and_how_to_fix(project, archive):
    set_params(project, data={"url": str(archive), "md5": "0" * 32})
    with pytest.raises(StageError) as error:
        download.main()
    message = str(error.value)
    assert "expected " + "0" * 32 in message and f"got {md5(archive)}" in message
    assert f"-S data.md5={md5(archive)}" in message
    assert raw_dir_is_empty(project)


def test_a_missing_local_file_is_a_clear_error(project, tmp_path):
    set_params(project, data={"url": str(tmp_path / "nowhere.tar.gz"), "md5": None})
    with pytest.raises(StageError, match="does not exist"):
        download.main()
    assert raw_dir_is_empty(project)


def test_an_unreachable_url_is_retried_then_reported(project, monkeypatch):
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0)
    set_params(project, data={"url": "http://127.0.0.1:9/aclImdb_v1.tar.gz", "md5": None})
    with pytest.raises(StageError, match="after 3 attempts"):
        download.main()
    assert raw_dir_is_empty(project)


def test_a_file_that_is_not_a_gzip_tar_is_refused(project, tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("not an archive")
    set_params(project, data={"url": str(plain), "md5": None})
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()
    assert raw_dir_is_empty(project)


def test_a_truncated_gzip_is_refused(project, archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    set_params(project, data={"url": str(truncated), "md5": None})
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()
    assert raw_dir_is_empty(project)


def test_a_gzip_that_is_not_a_tar_is_refused(project, tmp_path):
    gz = tmp_path / "plain.gz"
    gz.write_bytes(gzip.compress(b"hello" * 1000))
    set_params(project, data={"url": str(gz), "md5": None})
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()


def test_a_failed_download_keeps_the_earlier_archive(project, archive, tmp_path):
    set_params(project, data={"url": str(archive), "md5": None})
    download.main()
    set_params(project, data={"url": str(tmp_path / "missing.tar.gz"), "md5": None})
    with pytest.raises(StageError):
        download.main()
    assert tarfile.is_tarfile(project / RAW_ARCHIVE)
