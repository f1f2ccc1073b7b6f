"""What a command that runs several trainings at once shows and does on Ctrl-C: which runs are done, running
(with their time) and waiting; one line and exit status 130 instead of a traceback.

Shared by tools.regenerate (parallel `dvc repro` of the workspace's runs) and tools.ablations run (DVC's
experiment queue, imdb_rnn/experiments/exp_queue.py).
"""

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

LOG_SECONDS = 60.0  # how often the progress line is printed when the output is not a terminal


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C ends the command with one line and exit status 130 instead of a traceback.

    By then the command has stopped everything it started (SIGTERM, which `run_stage` turns into SystemExit,
    goes through the same cleanup).
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started where SIGINT is ignored (nohup &)
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted: every run it started was stopped; run the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None


class Progress:
    """Which experiments are done, running (with their time) and waiting: a bar in a terminal, lines in a log."""

    def __init__(self, names: list[str], jobs: int) -> None:
        self.names, self.started, self.done = names, {}, set()
        self.bar = tqdm(total=len(names), unit="run", desc=f"{jobs} at once", disable=not sys.stderr.isatty())
        self.last_line = time.monotonic()

    def update(self, status: dict[str, str]) -> None:
        now = time.monotonic()
        for name in self.names:
            if status.get(name) == "Running" and name not in self.started:
                self.started[name] = now
                self.bar.write(f"started: {name}")
            if status.get(name) in ("Success", "Failed") and name not in self.done:
                self.done.add(name)
                self.bar.write(f"{status[name].lower()}: {name} ({elapsed(now - self.started.get(name, now))})")
        running = [name for name in self.names if status.get(name) == "Running"]
        waiting = len(self.names) - len(self.done) - len(running)
        running_text = ", ".join(f"{name} {elapsed(now - self.started[name])}" for name in running) or "none"
        line = f"done {len(self.done)}/{len(self.names)}; running: {running_text}; waiting: {waiting}"
        self.bar.n = len(self.done)
        self.bar.set_postfix_str(line.split("; ", 1)[1])
        if self.bar.disable and now - self.last_line >= LOG_SECONDS:
            print(line, flush=True)
            self.last_line = now

    def close(self) -> None:
        self.bar.close()
