#!/usr/bin/env bash
# bench_parallel.sh — issue 4's figures: tokens/s and the share of step time spent blocked on communication,
# for configs/gpt-tiny.ini on one rank, on 2 data-parallel ranks (ZeRO-1) and on the 8-rank quick-start layout
# (tensor 2 x pipeline 2 x data 2, ZeRO-1), all on the same data in the same run. Prints one row per layout:
# median over the steps after the first two of step_ms, tokens/s, comm_blocked_ms (all groups; blocking calls
# and Request waits) and its share of the step, the data-parallel wait after backward (comm_wait_ms) and
# comm_overlap, the fraction of the data-parallel reduction completed while the backward was still running.
# Not a test: timings depend on the machine. Usage: tests/bench/bench_parallel.sh [BUILD_DIR] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
steps=${2:-12}
[ -f data/fortunes/train_000000.h5 ] || { echo "bench_parallel: run scripts/quickstart.sh first (data/fortunes)"; exit 2; }
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(configs/gpt-tiny.ini --train.steps="$steps" --train.log_interval=1 --train.eval_interval=0
        --train.micro_batch=4 --log.peak_tflops=1)
run() {  # name ranks extra-args...
  local name=$1 ranks=$2
  shift 2
  if [ "$ranks" = 1 ]; then
    "$build"/src/strata-train "${common[@]}" --log.metrics="$out/$name.jsonl" "$@" > "$out/$name.log"
  else
    mpirun --oversubscribe --bind-to none -np "$ranks" "$build"/src/strata-train "${common[@]}" \
      --log.metrics="$out/$name.jsonl" "$@" > "$out/$name.log"
  fi
}
run one_rank 1
run data2_zero1 2 --parallel.zero_stage=1
run tp2_pp2_dp2_zero1 8 --parallel.tensor=2 --parallel.pipeline=2 --parallel.zero_stage=1
python3 - "$out" <<'PY'
import json, statistics, sys, os
out = sys.argv[1]
print(f"{'layout':<20}{'step ms':>9}{'tokens/s':>10}{'blocked ms':>12}{'blocked %':>10}{'dp wait ms':>12}{'dp overlap':>11}")
for name in ["one_rank", "data2_zero1", "tp2_pp2_dp2_zero1"]:
    rows = [json.loads(l) for l in open(os.path.join(out, name + ".jsonl"))][2:]
    med = lambda k: statistics.median(r.get(k, 0.0) for r in rows)
    blocked = statistics.median(r.get("comm_blocked_ms", 0.0) / r["step_ms"] for r in rows)
    print(f"{name:<20}{med('step_ms'):>9.1f}{med('tokens_per_s'):>10.0f}{med('comm_blocked_ms'):>12.1f}"
          f"{100 * blocked:>9.1f}%{med('comm_wait_ms'):>12.1f}{100 * med('comm_overlap'):>10.0f}%")
PY
