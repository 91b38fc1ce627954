#!/usr/bin/env bash
# train_parallel.sh — strata-train under mpirun, as a user launches it, in parallel layouts (data 2 with
# ZeRO 0, 1 and 2, data 4 with ZeRO 1 and 3, tensor 2, pipeline 2, and the 8-rank tensor 2 x pipeline 2 x
# data 2 ZeRO 1 of the quick start; and, on a 4-layer model, the interleaved pipeline 2 x virtual stages 2)
# gives per-step losses within 1e-5 relative and gradient norms within 1e-4 of the single-rank run on the
# same shards, seed and global batch, and reports its layout (ZeRO-3: also that its parameter memory is
# reported as the shard plus the gather buffers; interleaved: the chunk-micro-batches in flight). An
# interleaved layout whose micro-batches per step are not a multiple of the pipeline is refused with
# exit 2 on every rank, naming parallel.virtual_stages.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

for i in $(seq 1 300); do printf 'record %d: %s\n%%\n' "$i" "$(printf 'abcdefghij%.0s' $(seq 1 $((i % 7 + 1))))"; done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --valid-fraction 0.1 --out shards corpus.txt > /dev/null
ARGS=(--model.layers=2 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=2
      --train.global_batch=8 --train.steps=10 --train.log_interval=1 --optim.warmup_steps=2
      --data.train=shards/train_*.h5 --data.valid= --log.peak_tflops=1)
export OMP_NUM_THREADS=1
run() {  # run NAME NP TENSOR PIPELINE ZERO [MORE ARGS...]
  local rc=0
  timeout 240 "$MPIEXEC" -np "$2" "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" \
    --parallel.tensor="$3" --parallel.pipeline="$4" --parallel.zero_stage="$5" --log.metrics="$1.jsonl" "${@:6}" \
    > "$1.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { cat "$1.out"; fail "$1 exited $rc"; }
  [[ $(wc -l < "$1.jsonl") == 10 ]] || fail "$1: expected 10 metrics lines"
}
field() { sed "s/.*\"$2\":\([0-9.e+-]*\).*/\1/" "$1.jsonl"; }
compare() {  # compare NAME FIELD RTOL [REFERENCE RUN, default single]
  paste <(field "${4:-single}" "$2") <(field "$1" "$2") | awk -v tol="$3" -v name="$1" -v f="$2" '
    { d = $1 - $2; if (d < 0) d = -d; r = $1 < 0 ? -$1 : $1;
      if (d > tol * r) { printf "%s step %d: %s %s vs single-rank %s\n", name, NR, f, $2, $1; bad = 1 } }
    END { exit bad }' || fail "$1 differs from the single-rank run"
}
run single 1 1 1 1
for layout in "dp2_zero0 2 1 1 0" "dp2_zero1 2 1 1 1" "dp2_zero2 2 1 1 2" "dp4_zero1 4 1 1 1" "dp4_zero3 4 1 1 3" \
              "tp2 2 2 1 1" "pp2 2 1 2 1" "tp2_pp2_dp2_zero1 8 2 2 1"; do
  set -- $layout
  run "$1" "$2" "$3" "$4" "$5"
  compare "$1" loss 1e-5
  compare "$1" grad_norm 1e-4
  data=$(( $2 / ($3 * $4) ))
  grep -q "tensor $3 x pipeline $4 x data $data, order tp,dp,pp, ZeRO $5" "$1.out" || { cat "$1.out"; fail "$1: layout not reported"; }
done
grep -q "memory per rank: params .* | ZeRO-3: params, grads = shard + buffers" dp4_zero3.out \
  || { cat dp4_zero3.out; fail "dp4_zero3: no ZeRO-3 memory report"; }
# Interleaved 1F1B: 4 layers, pipeline 2 x 2 virtual stages (one block per chunk), 4 micro-batches.
run single4 1 1 1 1 --model.layers=4
run pp2_vp2 2 1 2 1 --model.layers=4 --parallel.virtual_stages=2
compare pp2_vp2 loss 1e-5 single4
compare pp2_vp2 grad_norm 1e-4 single4
grep -q "tensor 1 x pipeline 2 x 2 virtual x data 1" pp2_vp2.out || { cat pp2_vp2.out; fail "pp2_vp2: layout not reported"; }
grep -q "activations .* in flight over 2 chunks" pp2_vp2.out || { cat pp2_vp2.out; fail "pp2_vp2: in-flight activations not reported"; }
rc=0
timeout 120 "$MPIEXEC" -np 2 "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" --model.layers=4 \
  --parallel.pipeline=2 --parallel.virtual_stages=2 --train.global_batch=6 > bad_vp.out 2>&1 || rc=$?
[[ $rc == 2 ]] || { cat bad_vp.out; fail "3 micro-batches over pipeline 2 x virtual 2 exited $rc, expected 2"; }
[[ $(grep -c "parallel.virtual_stages" bad_vp.out) -ge 2 ]] || { cat bad_vp.out; fail "both ranks must name parallel.virtual_stages"; }
echo "train_parallel: every layout matches the single-rank run"
