"""Fresh clones of a project with params.yaml changed, and commands run in them: where whole-pipeline benchmarks run."""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ruamel.yaml import YAML

from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PARAMS_FILE
from imdb_rnn.experiments.processes import interruptible
from tools.regenerate import interrupt

ROOT = Path(__file__).resolve().parent.parent
LOG = "bench.log"  # in each clone: the output of every command run_in ran there


@contextmanager
def fresh_clones(count: int, params: dict, project: Path = ROOT) -> Iterator[list[Path]]:
    """`count` clones of `project`'s HEAD beside it (so that a relative data source such as ../shared resolves as
    there), `params` set in their params.yaml; removed at the end, or on Ctrl-C or SIGTERM, which then exits 128 + N."""
    clones: list[Path] = []
    with interruptible("the clones were removed"):
        try:
            for _ in range(count):
                clones.append(Path(tempfile.mkdtemp(prefix="bench-clone.", dir=project.parent)))
                cloned = subprocess.run(["git", "clone", "-q", project, clones[-1]], capture_output=True, text=True)
                if cloned.returncode != 0:
                    raise StageError(f"could not clone {project} (a git checkout is needed): {cloned.stderr.strip()}")
                yaml = YAML()  # round trip: the file keeps its comments and order
                settings = yaml.load(clones[-1] / PARAMS_FILE)
                settings.update(params)
                yaml.dump(settings, clones[-1] / PARAMS_FILE)
            yield clones
        finally:
            for clone in clones:
                shutil.rmtree(clone, ignore_errors=True)


def run_in(clone: Path, command: list[str]) -> float:
    """Run `command` in `clone`, its output appended to clone/LOG; its wall seconds. StageError with the log's end
    if it fails; interrupted, it first stops all that the command started."""
    start = time.perf_counter()
    with (clone / LOG).open("a") as log:
        process = subprocess.Popen(command, cwd=clone, stdout=log, stderr=log, start_new_session=True)
        try:
            process.wait()
        except BaseException:
            interrupt([process])
            raise
    if process.returncode != 0:
        tail = "".join((clone / LOG).read_text().splitlines(keepends=True)[-20:])
        raise StageError(f"`{' '.join(command)}` failed in a clone ({process.returncode}):\n{tail}")
    return time.perf_counter() - start
