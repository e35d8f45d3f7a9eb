#!/bin/bash
# One sweep process using every core vs one pinned worker per core: the wall
# time of the same two runs (nano baseline and hybrid, 10% of CIFAR-10, a few
# epochs), trained one after the other with all cores, then side by side.
#
#   bash benchmarks/sweep_workers.sh ../shared/data/tfds [EPOCHS]
#
# Needs `taskset` and at least 2 cores; uses cores 0 and 1.
set -euo pipefail
data_dir=${1:?usage: bash benchmarks/sweep_workers.sh TFDS_DATA_DIR [EPOCHS]}
epochs=${2:-3}
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
flags=(--config.tfds_data_dir="$data_dir" --config.train_fraction=0.1
       --config.num_epochs="$epochs" --config.eval_every_steps=100000
       --config.validation_size=1000 '--config.eval_splits=("validation",)')
train() {  # CONFIG WORKDIR [taskset args...]
  local config=$1 workdir=$2; shift 2
  "$@" python train.py --config="configs/$config" --workdir="$scratch/$workdir" \
    "${flags[@]}" > "$scratch/$workdir.log" 2>&1 ||
    { tail -n 20 "$scratch/$workdir.log"; return 1; }
}
start=$(date +%s.%N)
train baseline_cifar10.py seq_baseline
train hybrid_cifar10.py seq_hybrid
middle=$(date +%s.%N)
train baseline_cifar10.py par_baseline taskset -c 0 & first=$!
train hybrid_cifar10.py par_hybrid taskset -c 1 & second=$!
wait "$first" && wait "$second"
end=$(date +%s.%N)
python - "$start" "$middle" "$end" "$epochs" <<'PY'
import sys
start, middle, end, epochs = map(float, sys.argv[1:])
one, two = middle - start, end - middle
print(f'2 runs x {epochs:g} epochs of 10% CIFAR-10, nano baseline + hybrid:')
print(f'  one after the other, all cores: {one:.1f} s')
print(f'  side by side, one core each:    {two:.1f} s ({one / two:.2f}x)')
PY
