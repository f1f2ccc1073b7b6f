#!/usr/bin/env bash
# Does this machine reproduce the committed study? And what moves a run's numbers on it?
#
#   bash bench/reproducibility.sh check > check.log     # from the project root; ~15 min on 2 cores
#   bash bench/reproducibility.sh cores > cores.log     # ~15 min on 2 cores
#
# 1. check: a fresh clone of this repository (beside it, so that a relative data source resolves as here)
#    regenerates seed 0 of every architecture of params.yaml (`python -m tools.regenerate`, as many at once as
#    there are cores) and compares each test review's result, at both epochs, with the committed study's
#    (metrics/correct.npz at HEAD): "identical" or how many reviews differ, per run, with the machine named.
# 2. cores: two fresh clones each run `dvc exp run -S 'seeds=[0]'` at the same time, one pinned to core 0
#    (`taskset -c 0`), the other free to use cores 0 and 1; their test accuracies beside the committed ones.
# Which settings move the numbers (threads, each instruction-set cap): `python -m bench.numerics`.
# The clones (and their DVC caches) are removed at the end, or when the script is interrupted.
set -euo pipefail
what=${1:?"say what to run: check or cores"}
root=$(git rev-parse --show-toplevel)
cd "$root"
here=$(dirname "$root")
clones=() groups=()
cleanup() {  # each run is a process group of its own: end all of it, then remove the clones
  for group in "${groups[@]}"; do kill -- "-$group" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for clone in "${clones[@]}"; do rm -rf "$clone"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fresh_clone() {  # a clone beside this project, so that ../shared means the same in both
  local clone
  clone=$(mktemp -d "$here/repro-check.XXXXXX")
  git clone -q "$root" "$clone"
  echo "$clone"
}

accuracies() {  # the seed-0 runs of a per-run table (metrics/runs.csv): arch test_acc final_test_acc
  python -c '
import sys
import pandas as pd
runs = pd.read_csv(sys.argv[1])
for run in runs[runs["seed"] == 0].itertuples():
    print("%-12s %.5f %.5f" % (run.arch, run.test_acc, run.final_test_acc))
' "$1"
}

in_group() {  # directory, log file, command...: run it there in the background, in a process group of its own
  local directory=$1 log=$2; shift 2
  setsid bash -c 'cd "$1" && log=$2 && shift 2 && exec "$@" > "$log" 2>&1' _ "$directory" "$log" "$@" &
  echo "(log: $directory/$log, kept only while this script runs)" >&2
  groups+=($!)
}
echo "# $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, torch $(python -c 'import torch; print(torch.__version__)')"
if [[ $what == cores ]]; then
  one_core=$(fresh_clone)
  two_cores=$(fresh_clone)
  clones=("$one_core" "$two_cores")
  in_group "$one_core" exp.log taskset -c 0 dvc exp run -n one-core -S 'seeds=[0]'
  in_group "$two_cores" exp.log taskset -c 0,1 dvc exp run -n two-cores -S 'seeds=[0]'
  wait "${groups[@]}"
  echo "## seed 0, test accuracy (best-validation epoch, last epoch)"
  echo "### fresh clone, taskset -c 0"; accuracies "$one_core/metrics/runs.csv"
  echo "### fresh clone, taskset -c 0,1"; accuracies "$two_cores/metrics/runs.csv"
  echo "### committed study (metrics/runs.csv at HEAD)"
  git show HEAD:metrics/runs.csv > "$one_core/committed.csv" && accuracies "$one_core/committed.csv"
  exit 0
fi

[[ $what == check ]] || { echo "unknown mode $what: say check or cores" >&2; exit 2; }
clone=$(fresh_clone)
clones=("$clone")
python - "$clone/params.yaml" <<'EOF2'
import sys
from ruamel.yaml import YAML
yaml = YAML()
with open(sys.argv[1]) as file:
    params = yaml.load(file)
params["seeds"] = [0]
with open(sys.argv[1], "w") as file:
    yaml.dump(params, file)
EOF2
git show HEAD:metrics/correct.npz > "$clone/committed.npz"
in_group "$clone" regenerate.log python -m tools.regenerate
wait "${groups[@]}"
cd "$clone"
python - <<'EOF2'
import numpy as np
import yaml
from imdb_rnn.analysis.aggregated import read_correct
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.core.paths import predictions_file

committed = read_correct(open("committed.npz", "rb").read(), "the committed metrics/correct.npz")
for arch in yaml.safe_load(open("params.yaml"))["archs"]:
    with np.load(predictions_file(arch, 0)) as mine:
        words = []
        for epoch in EPOCHS:
            ours, theirs = mine[epoch.review_key], committed[arch][0][epoch.key]
            differ = int((ours != theirs).sum())
            words.append(f"{epoch.label}: " + ("identical" if differ == 0 else f"{differ} of {len(ours)} reviews differ"))
    print(f"{arch} seed 0: " + "; ".join(words))
EOF2
