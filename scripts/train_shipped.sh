#!/usr/bin/env bash
# The recipe of the shipped weights (docs/training.md, "The shipped weights"): four stages of
# configs/egvsr_synthetic.yaml (each a cosine schedule starting from the last), then fp16 export to egvsr/data/egvsr-sample.pt. With --control it trains
# the frames-only control of the same width and budget instead (benchmarks/quality.py's column).
# Each stage resumes by itself if interrupted: run the same command again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
name=egvsr-synthetic
extra=()
if [ "${1:-}" = "--control" ]; then
  name=egvsr-synthetic-frames
  extra=(--set model.options.ignore_events=true)
fi
.venv/bin/egvsr train configs/egvsr_synthetic.yaml --set "name=$name" "${extra[@]}"
.venv/bin/egvsr train configs/egvsr_synthetic.yaml --set "name=$name-ft" "${extra[@]}" \
  --set train.iterations=3500 --set train.lr=4e-4 --set train.warmup_iterations=50 --set data.train.num_queries=3 \
  --set "train.init_from=experiments/$name/checkpoints/last.pt"
.venv/bin/egvsr train configs/egvsr_synthetic.yaml --set "name=$name-ft2" "${extra[@]}" \
  --set train.iterations=3500 --set train.lr=2e-4 --set train.warmup_iterations=50 --set data.train.num_queries=3 \
  --set "train.init_from=experiments/$name-ft/checkpoints/last.pt"
.venv/bin/egvsr train configs/egvsr_synthetic.yaml --set "name=$name-ft3" "${extra[@]}" \
  --set train.iterations=2500 --set train.lr=1.5e-4 --set train.warmup_iterations=50 --set data.train.num_queries=3 \
  --set "train.init_from=experiments/$name-ft2/checkpoints/last.pt"
if [ "$name" = egvsr-synthetic ]; then
  .venv/bin/python scripts/ship_weights.py "experiments/$name-ft3/checkpoints/last.pt" egvsr/data/egvsr-sample.pt
fi
