#!/usr/bin/env bash
# Wall time of regenerating seed 0 of every architecture of params.yaml, EPOCHS epochs each, two ways in one run:
#   1. `dvc repro`, one stage after another (the trainings on one thread each, params.yaml's `threads`);
#   2. `python -m tools.regenerate -j 2`, two `dvc repro` of the training runs at once, then `dvc repro`.
# Each way in a fresh clone of HEAD beside this project (so that ../shared means the same), with its own DVC
# cache; the data stages run first, untimed (the second clone restores them from the first's run cache).
# Then checks that both dvc.lock files are the same but for the outputs that record wall time. Time it on a
# quiet machine; the clones are removed at the end, or when the script is interrupted:
#
#   bash bench/regenerate.sh [EPOCHS] > regenerate.log     # default 3 epochs; about 15 min on 2 cores
set -euo pipefail
epochs=${1:-3}
root=$(git rev-parse --show-toplevel)
cd "$root"
clones=()
cleanup() {
  for clone in "${clones[@]}"; do rm -rf "$clone"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fresh_clone() {  # a clone of HEAD beside this project, seed 0 and $epochs epochs
  local clone
  clone=$(mktemp -d "$(dirname "$root")/regenerate-bench.XXXXXX")
  git clone -q "$root" "$clone"
  python - "$clone/params.yaml" "$epochs" <<'EOF'
import sys
from ruamel.yaml import YAML
yaml = YAML()
path, epochs = sys.argv[1], int(sys.argv[2])
with open(path) as file:
    params = yaml.load(file)
params["seeds"], params["epochs"] = [0], epochs
with open(path, "w") as file:
    yaml.dump(params, file)
EOF
  echo "$clone"
}

seconds() { python -c "import time; print(f'{time.monotonic():.1f}')"; }
elapsed() { python -c "print(f'{$2 - $1:.0f}')"; }

serial=$(fresh_clone) && clones+=("$serial")
parallel=$(fresh_clone) && clones+=("$parallel")
(cd "$serial" && dvc repro -q tokenize > /dev/null)
mkdir -p "$parallel/.dvc" && cp -r "$serial/.dvc/cache" "$parallel/.dvc/cache"
(cd "$parallel" && dvc repro -q tokenize > /dev/null)

echo "# $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
  "torch $(python -c 'import torch; print(torch.__version__)'), archs $(cd "$serial" && python -c \
  'import yaml; print(",".join(yaml.safe_load(open("params.yaml"))["archs"]))') x seed 0 x $epochs epochs"
start=$(seconds)
(cd "$serial" && dvc repro > repro.log 2>&1)
end=$(seconds)
serial_seconds=$(elapsed "$start" "$end")
start=$(seconds)
(cd "$parallel" && python -m tools.regenerate -j 2 > regenerate.log 2>&1)
end=$(seconds)
parallel_seconds=$(elapsed "$start" "$end")
echo
echo "| way | wall time |"
echo "| --- | --- |"
echo "| dvc repro | ${serial_seconds} s |"
echo "| python -m tools.regenerate -j 2 | ${parallel_seconds} s ($(python -c \
  "print(f'{$parallel_seconds / $serial_seconds:.2f}')")x) |"
python - "$serial/dvc.lock" "$parallel/dvc.lock" <<'EOF'
import sys
from pathlib import Path
from tools.regenerate import lock_without_timings
same = lock_without_timings(Path(sys.argv[1])) == lock_without_timings(Path(sys.argv[2]))
print("\ndvc.lock: " + ("the same" if same else "DIFFERENT") + " (but for outputs that record wall time)")
EOF
