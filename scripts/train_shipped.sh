#!/usr/bin/env bash
# The recipe of the shipped weights (docs/training.md, "The shipped weights"): seven stages of
# configs/egvsr_synthetic.yaml (each a cosine schedule starting from the last), then fp16 export to
# egvsr/data/egvsr-sample.pt. With --control it trains the frames-only control of the same width and budget
# instead (benchmarks/quality.py's column). Each stage resumes by itself if interrupted: run the same command again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
name=egvsr-synthetic
extra=()
case "$#:${1:-}" in
  0:) ;;
  1:--control) name=egvsr-synthetic-frames; extra=(--set model.options.ignore_events=true) ;;
  *) echo "train_shipped.sh: error: expected no argument or --control, got: $*" >&2; exit 2 ;;
esac
.venv/bin/python -m egvsr train configs/egvsr_synthetic.yaml --set "name=$name" ${extra[@]+"${extra[@]}"}
# later stages: (suffix, steps, lr, LR patch, lowest scale, time bins, residual base), each from the previous
# stage's last checkpoint, 3 query times per sample. Where the time bins or the residual base change, the start
# is first converted (scripts/resize_time_bins.py): t5 gets 5 time bins, lin the linear residual base.
prev=$name
prev_bins=3
prev_base=nearest
for stage in "ft 3500 4e-4 16 1.5 3 nearest" "ft2 3500 2e-4 16 1.5 3 nearest" "ft3 2500 1.5e-4 16 1.5 3 nearest" \
             "ft4 2000 1.5e-4 19 2.0 3 nearest" "t5 2000 3e-4 19 2.0 5 nearest" "lin 2000 3e-4 19 2.0 5 linear"; do
  read -r suffix steps lr patch low bins base <<< "$stage"
  init="experiments/$prev/checkpoints/last.pt"
  if { [ "$bins" != "$prev_bins" ] || [ "$base" != "$prev_base" ]; } \
      && [ ! -e "experiments/$name-$suffix/checkpoints/last.pt" ]; then
    .venv/bin/python scripts/resize_time_bins.py "$init" "experiments/$name-$suffix-init.pt" --time-bins "$bins" \
      --option "residual_base=$base" --overwrite
    init="experiments/$name-$suffix-init.pt"
  fi
  .venv/bin/python -m egvsr train configs/egvsr_synthetic.yaml --set "name=$name-$suffix" ${extra[@]+"${extra[@]}"} \
    --set train.iterations="$steps" --set train.lr="$lr" --set train.warmup_iterations=50 \
    --set data.train.num_queries=3 --set data.train.patch_size="$patch" --set "data.train.scale_range=[$low,6.5]" \
    --set model.options.time_bins="$bins" --set "model.options.residual_base=$base" --set "train.init_from=$init"
  prev=$name-$suffix
  prev_bins=$bins
  prev_base=$base
done
if [ "$name" = egvsr-synthetic ]; then
  .venv/bin/python scripts/ship_weights.py "experiments/$prev/checkpoints/last.pt" egvsr/data/egvsr-sample.pt \
    --overwrite
fi
