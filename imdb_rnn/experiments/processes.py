"""The processes a runner starts (tools.regenerate, tools.ablations run, tools.grid): how often it looks at them,
how it stops them (SIGINT first, SIGKILL when overdue), what it shows of them (done, running, waiting), and the
one line it ends with on Ctrl-C or SIGTERM.
"""

import signal
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager

import psutil
from tqdm import tqdm

POLL_SECONDS = 2.0  # how often a runner looks at its runs: to show them, to notice a failure
STOP_SECONDS = 60.0  # how long stopped runs may take to end after SIGINT, before SIGKILL
LOG_SECONDS = 60.0  # how often the progress line is printed when the output is not a terminal
STOP_POLL_SECONDS = 0.1  # while stopping: how often the trees are looked at for processes that appeared or ended


def ended(process: psutil.Process) -> bool:
    """Whether `process` has exited: gone, its ID reused, or a zombie (its parent reaps it, never this function:
    a subprocess.Popen whose child another had reaped would never learn its exit status)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def send(process: psutil.Process, signum: int) -> None:
    try:
        process.send_signal(signum)  # psutil refuses a process ID that another process has reused since
    except psutil.NoSuchProcess:  # it has just ended
        pass


def descendants(processes: set[psutil.Process]) -> set[psutil.Process]:
    """The children of `processes`, theirs, and so on: one pass over the system's processes."""
    children: dict[int, list[psutil.Process]] = {}
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(process.info["ppid"], []).append(process)
    found, parents = set(), [process.pid for process in processes]
    while parents:
        born = [child for pid in parents for child in children.get(pid, []) if child not in found]
        found.update(born)
        parents = [child.pid for child in born]
    return found


def stop(roots: Collection[int], seconds: float = STOP_SECONDS, spare_roots: bool = False) -> list[psutil.Process]:
    """Stop the process trees of `roots` as Ctrl-C would, and wait until every process of them has ended.

    SIGINT goes once to each process (a second could cut its cleanup short), also to those that appear
    while it waits (a `dvc repro` between two stages starts the next), but not to the roots themselves if
    `spare_roots` (they end when their children have). After `seconds`, SIGKILL to whatever is left.
    Returns the processes that had to be killed.
    """
    tree: set[psutil.Process] = set()
    for pid in roots:
        try:
            tree.add(psutil.Process(pid))
        except psutil.NoSuchProcess:  # it has just ended
            pass
    spared = set(tree) if spare_roots else set()
    interrupted: set[psutil.Process] = set()
    killed: set[psutil.Process] = set()
    deadline = time.monotonic() + seconds
    while True:
        tree |= descendants({process for process in tree if not ended(process)})
        running = [process for process in tree if not ended(process)]
        if not running:
            return sorted(killed, key=lambda process: process.pid)
        overdue = time.monotonic() >= deadline
        for process in running:
            if overdue:
                killed.add(process)
                send(process, signal.SIGKILL)
            elif process not in interrupted | spared:
                interrupted.add(process)
                send(process, signal.SIGINT)
        time.sleep(STOP_POLL_SECONDS)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached a runner inside `interruptible`; `detail`, if the runner sets it, says what
    became of its runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.detail = signum, ""


def _raise_interrupted(signum: int, _frame: object) -> None:
    for each in (signal.SIGINT, signal.SIGTERM):  # once: the runner's stopping of its runs goes to its end
        signal.signal(each, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def interruptible(detail: str = "every run it started was stopped") -> Iterator[None]:
    """Ctrl-C or SIGTERM raises Interrupted in the runner, which stops what it started on its way out; the
    command then ends with one line (`detail` unless the runner said more) and exit status 128 + the signal's
    number, not a traceback. Also where the command was started with SIGINT ignored (nohup ... &)."""
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except Interrupted as stop:
        print(f"interrupted ({stop}): {stop.detail or detail}; run the same command to resume", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Progress:
    """Which runs are done, running (with their time) and waiting: a bar in a terminal, a line every LOG_SECONDS
    in a log, and a line as each run starts (`started: <name>`) and ends (`<outcome>: <name> (m:ss)`)."""

    def __init__(self, names: list[str], jobs: int) -> None:
        self.names, self.started, self.done = names, {}, set()
        self.bar = tqdm(total=len(names), unit="run", desc=f"{jobs} at once", disable=not sys.stderr.isatty())
        self.last_line = time.monotonic()

    def update(self, running: Collection[str], outcomes: Mapping[str, str]) -> None:
        """`running`: the runs running now; `outcomes`: each ended run's, in the runner's words (success, failed,
        landed ...)."""
        now = time.monotonic()
        for name in self.names:
            if name in running and name not in self.started:
                self.started[name] = now
                self.write(f"started: {name}")
            if name in outcomes and name not in self.done:
                self.done.add(name)
                self.write(f"{outcomes[name]}: {name} ({elapsed(now - self.started.get(name, now))})")
        now_running = [name for name in self.names if name in running and name not in self.done]
        waiting = len(self.names) - len(self.done) - len(now_running)
        running_text = ", ".join(f"{name} {elapsed(now - self.started[name])}" for name in now_running) or "none"
        line = f"done {len(self.done)}/{len(self.names)}; running: {running_text}; waiting: {waiting}"
        self.bar.n = len(self.done)
        self.bar.set_postfix_str(line.split("; ", 1)[1])
        if self.bar.disable and now - self.last_line >= LOG_SECONDS:
            print(line, flush=True)
            self.last_line = now

    def write(self, line: str) -> None:
        """A line of output above the bar (from any thread)."""
        self.bar.write(line)

    def close(self) -> None:
        self.bar.close()
