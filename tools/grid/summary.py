"""The grid's account at the end: a row per cell, every cell's full log under one directory, the failures.

The directory (--logs; by default .dvc/tmp/grid/<prefix>-<date>-<time>-<pid>/, which git ignores) holds
  <cell>.log     each cell's full log, every line prefixed with the seconds since the cell started;
  summary.txt    the table printed at the end;
  summary.json   per cell: status, reason, wall seconds, the seconds its train and evaluate stages ran,
                 the rest (the cell's overhead: clone, pull, the other stages, push), the seconds of each
                 stage that ran, the peak RSS of its commands, its worker's RSS, its host and the metrics
                 of its ref on the remote (bench/grid_vs_queue.sh reads it).
"""

import json
import os
import re
import time
from pathlib import Path

from tabulate import tabulate

from imdb_rnn.common import StageError
from tools.grid.landing import FAILED
from tools.grid.plan import Cell

STAGE_EVENT = re.compile(r"^\[\s*(\d+\.\d)\] (?:Running stage '([^']+)'|Updating lock file)", re.MULTILINE)
TRAINING = ("train@", "evaluate@")  # the stages whose time is the cell's work, not its overhead
LOG_LINES = 40  # of a failed cell's log, printed at the end


def default_logs_dir(root: Path, prefix: str) -> Path:
    return root / ".dvc" / "tmp" / "grid" / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def stage_seconds(log: str) -> dict[str, float]:
    """How long each stage that ran took, from a cell's log: from `Running stage` to DVC's next lock file update."""
    seconds: dict[str, float] = {}
    running: tuple[str, float] | None = None
    for match in STAGE_EVENT.finditer(log):
        at = float(match[1])
        if match[2]:
            running = (match[2], at)
        elif running:
            seconds[running[0]] = round(at - running[1], 1)
            running = None
    return seconds


def write_log(logs: Path, result: dict) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{result['name']}.log").write_text(result.get("log", ""))


def _shown(metrics: dict[str, float], metric: str) -> str:
    shown = []
    for key, value in metrics.items():
        name = key.partition(":")[2]
        if name == metric or name.endswith(f".{metric}"):
            shown.append(f"{name.removesuffix(f'.{metric}')}={value:.4f}")
    return " ".join(shown)


def rows(cells: list[Cell], results: dict[str, dict], metrics: dict[str, dict]) -> list[dict]:
    """One record per cell, in the grid's order: what summary.json holds."""
    records = []
    for cell in cells:
        result = results[cell.name]
        keys = ("name", "status", "reason", "seconds", "peak_rss_mib", "worker_rss_mib", "host")
        record = {key: result.get(key) for key in keys}
        if "log" in result:
            stages = stage_seconds(result["log"])
            training = sum(s for stage, s in stages.items() if stage.startswith(TRAINING))
            record |= {
                "train_eval_seconds": round(training, 1),
                "overhead_seconds": round(result["seconds"] - training, 1),
                "stage_seconds": stages,
            }
        records.append(record | {"metrics": metrics.get(cell.name, {})})
    return records


def table(records: list[dict], metric: str) -> str:
    """The summary: a row per cell, its metrics whose key ends with `metric` (of its ref on the remote)."""
    numbers = ("seconds", "train_eval_seconds", "overhead_seconds", "peak_rss_mib", "worker_rss_mib")
    body = [
        [record["name"], record["status"], _shown(record["metrics"], metric)]
        + [None if record.get(key) is None else round(record[key]) for key in numbers]
        + [record.get("host")]
        for record in records
    ]
    headers = [
        "cell",
        "status",
        metric,
        "wall s",
        "train+eval s",
        "overhead s",
        "peak RSS MiB",
        "worker RSS MiB",
        "host",
    ]
    return tabulate(body, headers=headers, missingval="-")


def write_summary(logs: Path, records: list[dict], text: str) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "summary.txt").write_text(text + "\n")
    (logs / "summary.json").write_text(json.dumps(records, indent=2) + "\n")


def report_failures(cells: list[Cell], results: dict[str, dict], logs: Path) -> None:
    """Print the reason and the end of the log of each failed cell, then raise StageError if there is one."""
    failed = [cell for cell in cells if results[cell.name]["status"] == FAILED]
    for cell in failed:
        result = results[cell.name]
        tail = "\n".join(result.get("log", "").splitlines()[-LOG_LINES:])
        print(f"\n--- {cell.name} (-S {' '.join(cell.overrides)}): {result['reason']}")
        if tail:
            print(f"the end of its log ({logs / f'{cell.name}.log'}):\n{tail}")
    if failed:
        raise StageError(
            f"{len(failed)} of {len(cells)} cells failed: {', '.join(cell.name for cell in failed)} (why, above; "
            f"their full logs are in {logs}). The others are experiments of this repository now. Fix the cause "
            "and rerun the same command: it runs only the cells missing from the git remote."
        )
