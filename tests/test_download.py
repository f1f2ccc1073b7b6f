import gzip
import hashlib
import json
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import PROJECT, build_archive, make_dvc_project, run_command, set_params

from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import load_params
from imdb_rnn.core.paths import DATA_SOURCE_FILE, RAW_ARCHIVE
from stages import download


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def set_sources(root, *sources):
    """params.yaml's data.sources: each source a (url, md5) pair."""
    set_params(root, data={"sources": [{"url": str(url), "md5": checksum} for url, checksum in sources]})


def recorded(root):
    return json.loads((root / DATA_SOURCE_FILE).read_text())


@pytest.fixture(autouse=True)
def no_dvc_root_and_short_retries(monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)  # as when the stage runs by hand, from the project root
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.01)


@pytest.fixture
def archive(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("source") / "aclImdb_v1.tar.gz")


class Host:
    """A local HTTP server standing in for the official host: it serves `body` at /aclImdb_v1.tar.gz,
    after answering the first requests with the statuses in `failures`; `requests` counts them."""

    def __init__(self, body: bytes):
        self.body, self.failures, self.requests = body, [], 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                host.requests += 1
                if self.path != "/aclImdb_v1.tar.gz":
                    self.send_error(404)
                elif host.failures:
                    self.send_error(host.failures.pop(0))
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(host.body)))
                    self.end_headers()
                    self.wfile.write(host.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/aclImdb_v1.tar.gz"


@pytest.fixture
def host(archive):
    served = Host(archive.read_bytes())
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 whose port nothing listens on: the host is unreachable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz"


def raw_dir_is_empty(root):
    raw = root / "data" / "raw"
    return not raw.exists() or not any(raw.iterdir())


def test_the_committed_sources_mean_the_same_on_every_machine():
    sources = load_params(download.Params, PROJECT / "params.yaml").data.sources
    assert all(source.md5 for source in sources)  # every source is checked
    assert not any(source.url.startswith(("/", "~", "file:")) for source in sources)  # no machine's own path
    official = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert (sources[-1].url, sources[-1].md5) == (official, "7c2ac02c03563afcf9b574c7e56c153a")


def test_a_clean_download_from_the_host_is_verified_and_recorded(project, archive, host):
    set_sources(project, (host.url, md5(archive)))
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert [p.name for p in (project / "data" / "raw").iterdir()] == ["aclImdb_v1.tar.gz"]
    assert host.requests == 1
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    expected = {"url": host.url, "md5": md5(archive), "sha256": sha256, "bytes": archive.stat().st_size}
    assert recorded(project) == expected | {"source_index": 0}


def test_a_transient_failure_is_retried_then_succeeds(project, archive, host, capsys):
    host.failures = [503]
    set_sources(project, (host.url, md5(archive)))
    download.main()
    assert host.requests == 2 and "attempt 1 failed (HTTP 503 Service Unavailable)" in capsys.readouterr().out
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert recorded(project)["source_index"] == 0


def test_an_unreachable_host_falls_through_to_the_next_source(project, archive, closed_port_url, capsys):
    set_sources(project, (closed_port_url, "0" * 32), (archive, md5(archive)))
    download.main()
    out = capsys.readouterr().out
    assert f"skipped data.sources[0] {closed_port_url}: could not be fetched after 3 attempts" in out
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert recorded(project)["source_index"] == 1 and recorded(project)["url"] == str(archive)


def test_a_host_that_keeps_failing_falls_through_after_its_retries(project, archive, host):
    host.failures = [503, 502, 503, 503]
    set_sources(project, (host.url, md5(archive)), (archive, None))
    download.main()
    assert host.requests == download.ATTEMPTS and recorded(project)["source_index"] == 1


def test_a_missing_local_path_is_skipped_at_once(project, archive, host, capsys):
    set_sources(project, ("no/such/aclImdb_v1.tar.gz", md5(archive)), (host.url, md5(archive)))
    download.main()
    out = capsys.readouterr().out
    assert "skipped data.sources[0] no/such/aclImdb_v1.tar.gz: does not exist" in out
    assert "attempt" not in out  # not retried
    assert host.requests == 1 and recorded(project)["source_index"] == 1


def test_a_relative_path_is_relative_to_dvc_root_not_the_working_directory(project, archive, tmp_path, monkeypatch):
    """Under `dvc exp run --temp` the stage runs in a copy of the project, and DVC_ROOT names the project."""
    workspace = tmp_path / "elsewhere" / "project"
    copy = workspace.parent / "shared" / "aclImdb_v1.tar.gz"
    copy.parent.mkdir(parents=True)
    workspace.mkdir()
    copy.write_bytes(archive.read_bytes())
    set_sources(project, ("../shared/aclImdb_v1.tar.gz", md5(archive)))
    with pytest.raises(StageError, match="does not exist"):  # beside the working directory: nothing
        download.main()
    monkeypatch.setenv("DVC_ROOT", str(workspace))
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert recorded(project)["url"] == "../shared/aclImdb_v1.tar.gz"  # as listed: the same on every machine


def test_without_dvc_root_a_relative_path_is_relative_to_the_working_directory(project, archive):
    (project / "copies").mkdir()
    (project / "copies" / "a.tar.gz").write_bytes(archive.read_bytes())
    set_sources(project, ("copies/a.tar.gz", md5(archive)))
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()


def test_under_dvc_exp_run_temp_a_relative_path_names_the_file_beside_the_project(tmp_path):
    base = tmp_path / "work"
    # make_dvc_project puts the project at base/project and its archive at base/source/
    root = make_dvc_project(base, data={"sources": [{"url": "../source/aclImdb_v1.tar.gz", "md5": None}]})
    result = run_command(["dvc", "exp", "run", "--temp", "download"], root)
    assert "download: data.sources[0] ../source/aclImdb_v1.tar.gz" in result.stdout
    assert f"(read at {root}/../source/aclImdb_v1.tar.gz)" in result.stdout  # not under root/.dvc/tmp/exps/


@pytest.mark.parametrize("as_url", [False, True])
def test_fetches_a_local_path_or_file_url_and_verifies_it(project, archive, as_url):
    set_sources(project, (archive.as_uri() if as_url else archive, md5(archive)))
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()


def test_md5_null_accepts_any_content(project, archive):
    set_sources(project, (archive, None))
    download.main()
    assert recorded(project)["md5"] == md5(archive)


def test_a_wrong_checksum_is_refused_with_expected_actual_and_how_to_fix(project, archive, host):
    set_sources(project, (host.url, "0" * 32))
    with pytest.raises(StageError) as error:
        download.main()
    message = str(error.value)
    assert f"data.sources[0] {host.url}: MD5 mismatch: expected {'0' * 32}, got {md5(archive)}" in message
    assert f"-S data.sources.0.md5={md5(archive)}" in message
    assert raw_dir_is_empty(project) and not (project / DATA_SOURCE_FILE).exists()


def test_a_wrong_checksum_falls_through_to_the_next_source(project, archive, tmp_path):
    other = build_archive(tmp_path / "other.tar.gz", seed=1)
    set_sources(project, (other, md5(archive)), (archive, md5(archive)))
    download.main()
    assert (project / RAW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert recorded(project)["source_index"] == 1


def test_when_every_source_fails_one_message_lists_each_and_what_to_do(project, archive, closed_port_url, tmp_path):
    wrong = build_archive(tmp_path / "other.tar.gz", seed=1)
    set_sources(project, (tmp_path / "missing.tar.gz", None), (closed_port_url, None), (wrong, md5(archive)))
    with pytest.raises(StageError) as error:
        download.main()
    lines = str(error.value).splitlines()
    assert lines[0] == "no source in data.sources of params.yaml gave the IMDB archive:"
    assert lines[1].startswith(f"  data.sources[0] {tmp_path / 'missing.tar.gz'}: does not exist")
    assert lines[2].startswith(f"  data.sources[1] {closed_port_url}: could not be fetched after 3 attempts")
    assert lines[3].startswith(f"  data.sources[2] {wrong}: MD5 mismatch")
    assert "Check the network" in lines[4] and "-S 'data.sources=[{url:/path/to/aclImdb_v1.tar.gz" in lines[4]
    assert raw_dir_is_empty(project) and not (project / DATA_SOURCE_FILE).exists()


def test_a_url_that_is_not_on_its_host_is_not_retried(project, archive, host):
    set_sources(project, (host.url.replace("aclImdb", "other"), None), (archive, None))
    download.main()
    assert host.requests == 1 and recorded(project)["source_index"] == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"sources": []}, "'data.sources' = []"),
        ({"sources": [{"url": "x", "md5": "abc"}]}, "'data.sources.md5' (item 0) = 'abc': should be an MD5 digest"),
        ({"sources": [{"url": "", "md5": None}]}, "'data.sources.url' (item 0) = ''"),
        ({"url": "x", "md5": None}, "unknown key 'data.url'"),
    ],
)
def test_a_wrong_data_param_is_refused(project, data, expected):
    set_params(project, data=data)
    with pytest.raises(StageError, match="invalid params.yaml") as error:
        download.main()
    assert expected in str(error.value)


def test_a_file_that_is_not_a_gzip_tar_is_refused(project, tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("not an archive")
    set_sources(project, (plain, None))
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()
    assert raw_dir_is_empty(project)


def test_a_truncated_gzip_is_refused(project, archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    set_sources(project, (truncated, None))
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()
    assert raw_dir_is_empty(project)


def test_a_gzip_that_is_not_a_tar_is_refused(project, tmp_path):
    gz = tmp_path / "plain.gz"
    gz.write_bytes(gzip.compress(b"hello" * 1000))
    set_sources(project, (gz, None))
    with pytest.raises(StageError, match="not a readable gzip tar archive"):
        download.main()


def test_a_failed_download_keeps_the_earlier_archive_and_record(project, archive, tmp_path):
    set_sources(project, (archive, None))
    download.main()
    before = recorded(project)
    set_sources(project, (tmp_path / "missing.tar.gz", None))
    with pytest.raises(StageError):
        download.main()
    assert tarfile.is_tarfile(project / RAW_ARCHIVE) and recorded(project) == before
