"""What the driver shows while the grid runs: cells queued, running (elapsed, stage, epoch), landed, failed.

The cells report to the driver through Dask events (tools/grid/cell.py: Watch.publish) when they start,
change stage or epoch, and end. In a terminal the state is a live table (rich), redrawn twice a second,
with a line printed as each cell ends; in a log (output not a terminal) it is plain lines: one per
change, and every HEARTBEAT_S the counts with each running cell's elapsed time, stage and epoch.
"""

import queue
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tools.grid.landing import ALREADY, BY_ANOTHER, FAILED, INTERRUPTED, LANDED

HEARTBEAT_S = 60.0
QUEUED, RUNNING = "queued", "running"


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s"


class Progress:
    """The grid's state, fed by the cells' events and results, shown as it changes."""

    def __init__(self, prefix: str, names: list[str], out: TextIO, live: bool) -> None:
        self.prefix = prefix
        self.state = dict.fromkeys(names, QUEUED)
        self.running: dict[str, dict] = {}  # name: since, host, stage, epoch
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.stopped: set[str] = set()  # cells that reported INTERRUPTED
        self.started = time.monotonic()
        self.beat = self.started
        self.finished = 0
        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.live = Live(console=self.console, auto_refresh=False, transient=True) if live else None

    def __enter__(self) -> "Progress":
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.live:
            self.live.stop()

    def on_event(self, event: tuple[float, dict]) -> None:
        """A cell's event (Dask's event thread calls this): queued for the next update."""
        self.events.put(event[1])

    def _line(self, text: str) -> None:
        self.console.print(f"{_seconds(time.monotonic() - self.started):>7}  {text}", markup=False)

    def _apply(self, event: dict) -> None:
        name, state = event["cell"], event["state"]
        if name not in self.state:
            return
        if state != RUNNING:
            if state == INTERRUPTED:
                self.stopped.add(name)
            return
        if "host" in event:  # an attempt starts (again, if its worker died)
            self.state[name] = RUNNING
            self.running[name] = {"since": time.monotonic(), "host": event["host"]}
            if not self.live:
                self._line(f"{name}: running on {event['host']}")
            return
        current = self.running.setdefault(name, {"since": time.monotonic(), "host": "?"})
        current |= {"stage": event.get("stage"), "epoch": event.get("epoch")}
        if not self.live:
            epoch = f", epoch {current['epoch']}" if current["epoch"] is not None else ""
            self._line(f"{name}: {current['stage']}{epoch}")

    def finish(self, result: dict) -> None:
        """A cell's end: its line, and its state for the counts."""
        self.update()
        name, status = result["name"], result["status"]
        self.state[name] = FAILED if status == FAILED else status
        self.running.pop(name, None)
        self.finished += 1
        seconds = f" in {_seconds(result['seconds'])}" if "seconds" in result else ""
        reason = f": {result['reason']}" if result.get("reason") else ""
        self._line(f"[{self.finished}/{len(self.state)}] {name}: {status}{seconds}{reason}")

    def counts(self) -> str:
        states = list(self.state.values())
        landed = sum(state in (LANDED, BY_ANOTHER, ALREADY) for state in states)
        return (
            f"{states.count(QUEUED)} queued, {states.count(RUNNING)} running, {landed} landed, "
            f"{states.count(FAILED)} failed"
        )

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        """Each running cell: name, host, elapsed, stage, epoch."""
        now = time.monotonic()
        return [
            (name, run["host"], _seconds(now - run["since"]), run.get("stage") or "", str(run.get("epoch") or ""))
            for name, run in self.running.items()
        ]

    def _table(self) -> Table:
        table = Table(title=f"grid {self.prefix}: {self.counts()}", title_justify="left")
        for column in ("cell", "host", "elapsed", "stage", "epoch"):
            table.add_column(column)
        for row in self._rows():
            table.add_row(*row)
        return table

    def update(self) -> None:
        """Apply the events received so far; redraw the live table, or print the counts every HEARTBEAT_S."""
        while not self.events.empty():
            self._apply(self.events.get())
        if self.live:
            self.live.update(self._table(), refresh=True)
        elif time.monotonic() - self.beat >= HEARTBEAT_S:
            self.beat = time.monotonic()
            running = "; ".join(
                f"{name} {elapsed}" + (f" in {stage}" if stage else "") + (f", epoch {epoch}" if epoch else "")
                for name, _host, elapsed, stage, epoch in self._rows()
            )
            self._line(self.counts() + (f" ({running})" if running else ""))
