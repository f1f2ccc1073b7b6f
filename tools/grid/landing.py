"""Where a cell's experiment lands, and the honest account of who landed it.

An experiment is on the git remote as the ref refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>.
A cell pushes its ref with a plain `git push` (never forced), which the remote accepts only if the
ref is new: of two runs of the same cell, by two grids at once, only the first to push creates it
and reports `landed`. The other is refused, or finds the very same commit there (two runs restored
from the run cache in the same second make identical commits), and reports `landed by another run`. The driver then pulls the refs (not the models, unless asked) and shows the metrics of each
ref as the remote has it, never a cell's own unpushed ones. The functions that run on the workers
(sent by value) use nothing of imdb_rnn; the driver's (pull_experiments, ref_metrics) may.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo
from dvc.repo.experiments.refs import ExpRefInfo

from imdb_rnn.common import StageError

LANDED = "landed"
BY_ANOTHER = "landed by another run"
ALREADY = "already on the remote"  # found there by the driver before it started the cell
FAILED = "failed"
INTERRUPTED = "interrupted"
GIT_TIMEOUT_S = 120  # one git command that reaches the remote (ls-remote, fetch, push)


class GitRemoteError(Exception):
    """The git remote could not be read: the message holds git's own reason."""


def git_env() -> dict[str, str]:
    """git that never waits for a person: no password prompt, SSH in batch mode with a connect timeout."""
    ssh = os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=30")
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": ssh}


def exp_ref(sha: str, name: str) -> str:
    """The git ref of experiment `name` of baseline `sha`: refs/exps/<sha[:2]>/<sha[2:]>/<name>."""
    return str(ExpRefInfo(baseline_sha=sha, name=name))


def ls_remote(git_url: str, pattern: str) -> dict[str, str]:
    """{ref: commit} of the refs of the git remote matching `pattern`; GitRemoteError if it cannot be read."""
    try:
        listed = subprocess.run(
            ["git", "ls-remote", git_url, pattern],
            capture_output=True,
            text=True,
            env=git_env(),
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise GitRemoteError(f"git ls-remote {git_url} gave no answer in {GIT_TIMEOUT_S} s") from None
    if listed.returncode != 0:
        raise GitRemoteError(f"git ls-remote {git_url} failed: {listed.stderr.strip() or listed.returncode}")
    return {ref: sha for sha, ref in (line.split() for line in listed.stdout.splitlines())}


def remote_experiments(git_url: str, sha: str) -> dict[str, str]:
    """{name: commit} of the experiments of baseline `sha` on the git remote."""
    refs = ls_remote(git_url, f"{ExpRefInfo(baseline_sha=sha)}/*")
    return {ExpRefInfo.from_ref(ref).name: commit for ref, commit in refs.items()}


def pushed(porcelain: str, ref: str) -> str | None:
    """What `git push --porcelain` says of `ref`: LANDED if it created it, BY_ANOTHER if it was there already."""
    flags = re.findall(rf"^(?:\[[ \d.]+\] )?([*=])\t{re.escape(ref)}:", porcelain, re.MULTILINE)
    return {"*": LANDED, "=": BY_ANOTHER}.get(flags[-1]) if flags else None


def landing(git_url: str, ref: str, own: str) -> str | None:
    """Who landed `ref` on the remote: LANDED if it is commit `own`, BY_ANOTHER if another, None if it is absent."""
    on_remote = ls_remote(git_url, ref).get(ref)
    if on_remote is None:
        return None
    return LANDED if on_remote == own else BY_ANOTHER


def pull_experiments(root: Path, git_remote: str, dvc_remote: str, refs: list[str], with_data: bool) -> None:
    """Fetch the experiments' refs from the git remote (by full ref: a name may exist on several baselines), and
    with `with_data` their data and models from the DVC remote (`dvc exp pull`)."""
    commands = {"git fetch": ["git", "fetch", "--quiet", git_remote, *(f"{ref}:{ref}" for ref in refs)]}
    if with_data:
        commands["dvc exp pull"] = [sys.executable, "-m", "dvc", "exp", "pull", "-r", dvc_remote, git_remote, *refs]
    for what, command in commands.items():
        if subprocess.run(command, cwd=root, env=git_env(), stdin=subprocess.DEVNULL).returncode != 0:
            raise StageError(
                f"{what} failed (see above). The experiments are on the git remote '{git_remote}': "
                f"pull them again with dvc exp pull {git_remote} <name>, or rerun the same command."
            )


def _flatten(data: dict, prefix: str) -> dict[str, float]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


def ref_metrics(root: Path, refs: list[str]) -> dict[str, dict[str, float]]:
    """Every numeric metric of each ref, as {ref: {'<file>:<key>': value}}, read from the refs (as `dvc metrics show`)."""
    try:
        with Repo(str(root)) as repo:
            shown = repo.metrics.show(revs=refs)
    except DvcException as error:
        raise StageError(f"cannot read the metrics of the pulled experiments: {error}. Try dvc exp show.") from None
    return {
        ref: {
            key: value
            for path, file in shown.get(ref, {}).get("data", {}).items()
            for key, value in _flatten(file.get("data", {}), f"{path}:").items()
        }
        for ref in refs
    }
