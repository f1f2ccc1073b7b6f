#!/usr/bin/env bash
# What moves a run's numbers: the cores it may use, its thread count, the CPU's instruction set.
#
#   bash bench/reproducibility.sh cores > cores.log          # from the project root; ~15 min on 2 cores
#   bash bench/reproducibility.sh variants [ARCH] > variants.log     # ~10 min; time it on a quiet machine
#
# 1. cores: two fresh clones of this repository (beside it, so that a relative data source resolves as here)
#    each run `dvc exp run -S 'seeds=[0]'` (every architecture of params.yaml, seed 0), at the same
#    time, one pinned to core 0 (`taskset -c 0`), the other free to use cores 0 and 1; their per-run
#    test accuracies are printed beside the committed study's (metrics/runs.csv).
# 2. variants: in a fresh clone, ARCH (default gru) seed 0 is trained three times, one after another: as committed; with threads=2; and with every kernel held to AVX2 (ATEN_CPU_CAPABILITY=avx2
#    for torch's own kernels, MKL_CBWR=AVX2 for MKL's), the setting that an Intel and an AMD CPU with
#    AVX2 share. Each prints its accuracies and training minutes.
# The clones (and their DVC caches) are removed at the end, or when the script is interrupted.
set -euo pipefail
what=${1:?"say what to run: cores, or variants [ARCH]"}
arch=${2:-gru}
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

clone=$(fresh_clone)
clones=("$clone")
cd "$clone"
variant() {  # name, threads, then environment assignments: one forced rerun of $arch seed 0
  local name=$1 threads=$2; shift 2
  in_group "$clone" "$name.log" env "$@" dvc exp run -f -n "$name" -S "archs=[$arch]" -S 'seeds=[0]' -S "threads=$threads"
  wait "${groups[-1]}"
  python -c '
import json, sys
test, train = (json.load(open(path)) for path in sys.argv[2:4])
print("%-10s %.5f %.5f  %.2f min, %d thread(s)" % (sys.argv[1], test["test_acc"], test["final_test_acc"], train["train_minutes"], train["threads"]))
' "$name" "metrics/test/$arch-0.json" "metrics/train/$arch-0/metrics.json"
}
echo "## $arch seed 0, one after another: test acc (best-validation, last epoch), training time"
variant committed 1
variant threads2 2
variant avx2 1 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2
