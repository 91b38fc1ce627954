#!/usr/bin/env bash
# profile_ops.sh — STRATA_PROFILE_OPS=1: `strata-train --benchmark` names the profiled backend and prints the
# per-op table of the timed steps (header naming the per-op synchronize, matmul_forward with the model's
# call count, ms/step over the timed steps); a short training run prints the table at its end with the same
# losses as the unprofiled run; without the variable no table is printed; a bad value is refused with exit 2.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

export OMP_NUM_THREADS=1 STRATA_BACKEND=cpu
CFG="$SRC/configs/gpt-tiny.ini"
# 2 layers, 2 micro-batches per step, 3 steps of which 2 are timed.
BENCH=(--benchmark --model.layers=2 --model.hidden=32 --model.heads=2 --model.seq_len=16 --train.micro_batch=2
       --train.global_batch=4 --train.steps=3)

STRATA_PROFILE_OPS=1 expect 0 "$BIN/strata-train" "$CFG" "${BENCH[@]}"
contains out.txt "(op profiling on)"
contains out.txt "RESULT tokens_per_s="
contains out.txt "times include one device synchronize before and after each op"
contains out.txt "ms/step over 2 steps"
# matmul_forward per timed step: 2 micro-batches x (4 linear layers x 2 blocks + the output projection).
calls=$(awk '$1 == "matmul_forward" { print $2 }' out.txt)
[[ "$calls" == $((2 * 2 * (4 * 2 + 1))) ]] || { cat out.txt; fail "matmul_forward calls '$calls', expected 36"; }
contains out.txt "attention_backward"
contains out.txt "total (profiled ops)"

expect 0 "$BIN/strata-train" "$CFG" "${BENCH[@]}"
if grep -q "op profile" out.txt; then fail "op table printed without STRATA_PROFILE_OPS"; fi

# Training: the table comes at the end of the run, and the losses are those of the unprofiled run.
make_small_shards
expect 0 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.steps=3 --log.metrics=plain.jsonl
STRATA_PROFILE_OPS=1 expect 0 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.steps=3 --log.metrics=prof.jsonl
contains out.txt "op profile (cpu)"
tail -n 3 out.txt | grep -q "total (profiled ops)" || { cat out.txt; fail "the op table is not the end of the output"; }
losses() { grep -o '"loss":[0-9.e+-]*' "$1"; }
diff <(losses plain.jsonl) <(losses prof.jsonl) || fail "profiled training losses differ from the unprofiled run"

STRATA_PROFILE_OPS=yes expect 2 "$BIN/strata-train" "$CFG" "${BENCH[@]}"
contains err.txt "STRATA_PROFILE_OPS"
echo "profile_ops: ok"
