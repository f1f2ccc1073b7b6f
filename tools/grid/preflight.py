"""Everything checked before any cell starts: on the driver, then on every worker.

The driver: a git + DVC project with a git remote and a DVC remote, a clean working tree, a commit
the git remote has (tools/grid/plan.py then validates the cells at that commit). Every worker (a
quick function run on each, worker_facts): git, Python, torch and DVC versions against the driver's,
and whether it reaches the git remote and the DVC remote. Each refusal is one paragraph: what, where,
what to do.
"""

import os
import platform
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from dvc.config import Config
from dvc.repo import Repo

from imdb_rnn.common import StageError
from tools.grid.landing import GitRemoteError, git_env, ls_remote

MATCHED = ("python", "torch", "dvc")  # what a worker must have as the driver has it
DVC_REMOTE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Target:
    """Where the workers get the code and put the results."""

    git_url: str  # the git remote, as the workers clone it
    sha: str  # the commit every cell starts from
    dvc_remote: str  # the DVC remote's name and URL, made the default remote of each clone
    dvc_url: str
    dvc_config: dict  # the remote's options in the committed .dvc/config (no credentials: those stay local)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=git_env())


def find_root() -> Path:
    """The root of the git + DVC project around the working directory."""
    result = _git(Path.cwd(), "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise StageError(
            f"{Path.cwd()} is not inside a git repository. The grid's workers clone the project from its git "
            "remote: run python -m tools.grid in a clone of the project (git clone <url> && cd <dir>)."
        )
    root = Path(result.stdout.strip())
    if not (root / ".dvc").is_dir():
        raise StageError(f"{root} is not a DVC project (no .dvc/): run python -m tools.grid in the project's root.")
    return root


def git_remote_url(root: Path, name: str) -> str:
    """The URL of git remote `name`; a relative local path is made absolute, for the workers."""
    remotes = _git(root, "remote").stdout.split()
    if not remotes:
        raise StageError(
            "this repository has no git remote. Each worker clones the project from a git remote and pushes "
            "its experiment there: add one that every worker can reach and push to it "
            "(git remote add origin <url> && git push -u origin HEAD), then rerun."
        )
    if name not in remotes:
        raise StageError(
            f"there is no git remote '{name}' (this repository has {', '.join(remotes)}): pass --git-remote."
        )
    url = _git(root, "remote", "get-url", name).stdout.strip()
    return str((root / url).resolve()) if (root / url).exists() else url


def dvc_remote(root: Path, name: str | None) -> tuple[str, str, dict]:
    """The name, URL and committed options of the DVC remote the cells share: `name`, or the default remote."""
    with Repo(str(root)) as repo:
        remotes = {remote: section["url"] for remote, section in repo.config["remote"].items()}
        name = name or repo.config["core"].get("remote")
    if not remotes:
        raise StageError(
            "no DVC remote is configured (dvc remote list is empty). The cells share data, models and the run "
            "cache through one: add one that every worker can reach and commit it "
            "(dvc remote add -d storage s3://bucket/path, or on one machine a directory: "
            "dvc remote add -d storage /path/to/dir; then git add .dvc/config && git commit && git push), "
            "then rerun."
        )
    if name is None:
        raise StageError(
            f"there is no default DVC remote (this project has {', '.join(remotes)}): "
            "set one with dvc remote default <name>, or pass --dvc-remote <name>."
        )
    if name not in remotes:
        raise StageError(f"there is no DVC remote '{name}' (this project has {', '.join(remotes)}): pass --dvc-remote.")
    committed = Config(dvc_dir=str(root / ".dvc"), validate=False).load_one("repo").get("remote", {}).get(name, {})
    return name, remotes[name], {key: value for key, value in committed.items() if key != "url"}


def resolve_revision(root: Path, rev: str, git_url: str) -> str:
    """The commit `rev` names; refused if it is HEAD with uncommitted changes, or if the git remote lacks it."""
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if result.returncode != 0:
        raise StageError(f"--rev {rev!r} is not a commit of this repository.")
    sha = result.stdout.strip()
    changes = _git(root, "status", "--porcelain").stdout.splitlines()
    if changes and sha == _git(root, "rev-parse", "HEAD").stdout.strip():
        raise StageError(
            f"the working tree has uncommitted changes ({'; '.join(changes[:5])}). The workers clone the git "
            "remote and would not see them: commit and push them (or stash them, or add the files to "
            ".gitignore), then rerun."
        )
    try:
        heads = set(ls_remote(git_url, "refs/*").values())
    except GitRemoteError as error:
        raise StageError(
            f"cannot read the git remote {git_url} from this machine ({error}). Check the URL (git remote -v), "
            "the network and your credentials for it, then rerun."
        ) from None
    if not any(_git(root, "merge-base", "--is-ancestor", sha, head).returncode == 0 for head in heads):
        raise StageError(
            f"commit {sha[:7]} ({rev}) is on no branch or tag of the git remote {git_url}, so the workers could "
            "not check it out: push it (git push), then rerun."
        )
    return sha


# --- on every worker ---------------------------------------------------------------------------------
# Sent by value, like the cells (tools/grid/cell.py): nothing of imdb_rnn, everything computed there.


def local_remote_path(url: str) -> Path | None:
    """The directory of a DVC remote that is a local or shared-file-system path; None for other URLs."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    return None if "://" in url else Path(url)


def _python() -> str:
    return ".".join(platform.python_version_tuple()[:2])  # the functions sent by value need the same bytecode


def _package(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _tool_version(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    shown = subprocess.run(command, capture_output=True, text=True)
    return shown.stdout.strip().removeprefix("git version ") or None


def _reaches_git(git_url: str) -> str | None:
    """None if this machine can list the git remote, else why not."""
    try:
        ls_remote(git_url, "HEAD")
    except GitRemoteError as error:
        return str(error)
    return None


def _reaches_dvc(url: str, options: dict) -> str | None:
    """None if the DVC remote exists as seen from here (a directory: it must exist and be writable), else why not."""
    directory = local_remote_path(url)
    if directory is not None:
        if not directory.is_dir():
            return f"the directory {directory} does not exist"
        return None if os.access(directory, os.W_OK) else f"the directory {directory} is not writable"
    from dvc.fs import get_cloud_fs

    def exists() -> bool:
        cls, config, path = get_cloud_fs({"remote": {"grid": {"url": url, **options}}}, name="grid")
        return cls(**config).exists(path)

    with ThreadPoolExecutor(1) as pool:
        try:
            return None if pool.submit(exists).result(timeout=DVC_REMOTE_TIMEOUT_S) else f"{url} does not exist"
        except FutureTimeout:
            return f"no answer from {url} in {DVC_REMOTE_TIMEOUT_S} s"
        except Exception as error:  # any backend's error (credentials, network) is the answer
            return f"{type(error).__name__}: {error}"


def worker_facts(git_url: str, dvc_url: str, dvc_options: dict) -> dict[str, str | None]:
    """This machine's versions of what a cell runs, and why it cannot reach each remote (None if it can)."""
    return {
        "host": socket.gethostname(),
        "git": _tool_version(["git", "--version"]),
        "python": _python(),
        "torch": _package("torch"),
        "dvc": _package("dvc"),
        "git remote": _reaches_git(git_url),
        "DVC remote": _reaches_dvc(dvc_url, dvc_options),
    }


def check_facts(facts: dict[str, dict], here: dict) -> None:
    """StageError naming each worker whose versions differ from `here` or that cannot reach a remote."""
    problems = []
    for worker, seen in sorted(facts.items()):
        where = f"worker {worker} ({seen['host']})"
        if seen["git"] is None:
            problems.append(f"{where}: git is not installed")
        problems += [f"{where}: {name} {seen[name]}, here {here[name]}" for name in MATCHED if seen[name] != here[name]]
        problems += [
            f"{where}: cannot reach the {remote}: {seen[remote]}"
            for remote in ("git remote", "DVC remote")
            if seen[remote] is not None
        ]
    if problems:
        listed = "\n  ".join(problems)
        raise StageError(
            f"{len(problems)} problems with the workers, found before any cell started:\n  {listed}\n"
            "Every worker needs git and the project's environment as this machine has it (pip install -r "
            "requirements.txt) and must reach both remotes (a shared file system mounted, credentials in its "
            "environment); fix them, or start the grid from a machine that matches the workers, then rerun."
        )


def driver_facts() -> dict[str, str]:
    """This machine's versions, for comparison with the workers'."""
    return {"python": _python(), "torch": _package("torch"), "dvc": _package("dvc")}
