#!/usr/bin/env bash
# Wall time of the same 4 one-epoch experiments run three ways on this machine:
#   1. one after another, `dvc exp run --temp` (one thread per training: params.yaml's `threads`);
#   2. DVC's queue, `dvc queue start -j 2`, one thread per training (OMP_NUM_THREADS=1);
#   3. `python -m tools.grid` on its default LocalCluster (one single-threaded worker per core),
#      then each grid cell's overhead: its wall time minus the seconds its train and evaluate stages
#      ran (from the grid's cell logs), split into the summary stages (aggregate, plot, report, which
#      the queue runs too) and the rest (the clone, DVC between stages, the pull and the pushes).
# Each way trains its own seeds (FIRST..FIRST+3, then +10, then +20; FIRST is the first argument,
# default 10), so that none restores another's runs from the run cache; a rerun takes another FIRST.
# Needs a clean, pushed working tree, a git remote `origin` and a default DVC remote (the
# grid's), and the data stages' outputs and run cache on that remote (`dvc push --run-cache`).
# The grid's machine cache ($TMPDIR/grid-cache-<uid>) is removed first, so that its cells start cold.
# Prints each time as soon as it is measured; keep its log outside the project (the grid refuses a
# working tree with untracked files):
#
#   bench/grid_vs_queue.sh 40 2>&1 | tee ../grid_vs_queue.log
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain)" ]; then
  echo "the working tree is not clean: commit or stash first (the grid would refuse it)" >&2
  exit 1
fi
COMMON=(-S epochs=1 -S 'archs=[lstm]')
FIRST=${1:-10}
seeds() { seq "$1" $(($1 + 3)); }
ratio() { python -c "print(f'{$1 / $2:.2f}')"; }

start=$(date +%s)
for seed in $(seeds "$FIRST"); do
  dvc exp run --temp -n "seq-$seed" "${COMMON[@]}" -S "seeds=[$seed]" > /dev/null
done
sequential=$(( $(date +%s) - start ))
echo "one after another: ${sequential} s"

start=$(date +%s)
for seed in $(seeds $((FIRST + 10))); do
  dvc exp run --queue -n "queue-$seed" "${COMMON[@]}" -S "seeds=[$seed]" > /dev/null
done
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 dvc queue start -j 2 > /dev/null
while [[ $(dvc queue status) =~ Queued|Running ]]; do sleep 2; done  # (no grep -q: under pipefail its early exit fails the pipe)
queue=$(( $(date +%s) - start ))
echo "dvc queue start -j 2: ${queue} s ($(ratio "$sequential" "$queue")x the speed of one after another)"
if [[ $(dvc queue status) =~ Failed ]]; then
  echo "some queued experiments failed: dvc queue logs <name>" >&2
fi

rm -rf "${TMPDIR:-/tmp}/grid-cache-$(id -u)"
logs=$(mktemp -d)
start=$(date +%s)
python -m tools.grid --prefix grid "${COMMON[@]}" -S "seeds=$(seeds $((FIRST + 20)) | sed 's/.*/[&]/' | paste -sd,)" \
  --logs "$logs"
grid=$(( $(date +%s) - start ))
echo "tools.grid, LocalCluster: ${grid} s ($(ratio "$sequential" "$grid")x the speed of one after another," \
  "$(ratio "$queue" "$grid")x the speed of the queue)"
python -c '
import json, re, sys
from pathlib import Path
logs = Path(sys.argv[1])
cells = [cell for cell in json.loads((logs / "summary.json").read_text()) if cell["status"] == "landed"]
for cell in cells:  # each stage: from its "Running stage" line to the next lock file update, in the cell log
    stages, running = {}, None
    for at, stage in re.findall(r"^\[\s*(\d+\.\d)\] (?:Running stage .([^\x27]+).|Updating lock file)", (logs / (cell["name"] + ".log")).read_text(), re.M):
        if stage:
            running = (stage, float(at))
        elif running:
            stages[running[0]], running = float(at) - running[1], None
    cell["train_eval_seconds"] = sum(s for stage, s in stages.items() if stage.startswith(("train@", "evaluate@")))
    cell["overhead_seconds"] = cell["seconds"] - cell["train_eval_seconds"]
    cell["summary_seconds"] = sum(s for stage, s in stages.items() if stage in ("aggregate", "plot", "report"))
    cell["grid_seconds"] = cell["overhead_seconds"] - cell["summary_seconds"]
for what, key in [
    ("wall", "seconds"),
    ("train + evaluate", "train_eval_seconds"),
    ("overhead", "overhead_seconds"),
    ("  of which aggregate + plot + report", "summary_seconds"),
    ("  the rest (clone, DVC between stages, pull, pushes)", "grid_seconds"),
]:
    values = sorted(cell[key] for cell in cells)
    print(f"per grid cell, {what}: {values[0]:.1f} to {values[-1]:.1f} s")
' "$logs"
echo "the grid's logs and summary: $logs"
