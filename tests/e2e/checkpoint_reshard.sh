#!/usr/bin/env bash
# checkpoint_reshard.sh — a checkpoint saved at (tensor 2, pipeline 2, data 2, ZeRO 1) on 8 ranks resumes
# in other layouts, optimizer state included: (1, 1, 1), (4, 1, 2, ZeRO 2), (1, 2, 4, ZeRO 3), (2, 1, 1,
# ZeRO 0); the losses and gradient norms of the 5 steps after the resume match the uninterrupted 8-rank
# run within 1e-5 relative (1e-4 for grad norms), and a checkpoint written in the new layout is again
# the same model (its step 7, resumed on one rank, gives the same losses for steps 8-10; also for the
# ZeRO-3 run, whose parameters exist only as shards).
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

for i in $(seq 1 300); do printf 'record %d: %s\n%%\n' "$i" "$(printf 'abcdefghij%.0s' $(seq 1 $((i % 7 + 1))))"; done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --valid-fraction 0.1 --out shards corpus.txt > /dev/null
ARGS=(--model.layers=4 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=1
      --train.global_batch=8 --train.steps=10 --train.log_interval=1 --optim.warmup_steps=2
      --data.train=shards/train_*.h5 --data.valid= --log.peak_tflops=1)
export OMP_NUM_THREADS=1
train() {  # train NAME NP TENSOR PIPELINE ZERO [overrides...]
  local name="$1" np="$2" rc=0
  local layout=(--parallel.tensor="$3" --parallel.pipeline="$4" --parallel.zero_stage="$5")
  shift 5
  timeout 300 "$MPIEXEC" -np "$np" "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" "${layout[@]}" \
    --log.metrics="$name.jsonl" "$@" > "$name.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { cat "$name.out"; fail "$name exited $rc"; }
}
field() { grep -o "\"$2\":[0-9.e+-]*" "$1.jsonl" | cut -d: -f2 | tail -n "$3"; }
compare() {  # compare REF NAME FIELD RTOL [STEPS]: the last STEPS (5) logged steps
  local n="${5:-5}"
  [[ $(field "$2" "$3" 100 | wc -l) == "$n" ]] || fail "$2: expected $n steps after the resume"
  paste <(field "$1" "$3" "$n") <(field "$2" "$3" "$n") | awk -v tol="$4" -v name="$2" -v f="$3" -v n="$n" '
    { d = $1 - $2; if (d < 0) d = -d; r = $1 < 0 ? -$1 : $1;
      if (d > tol * r) { printf "%s step %d: %s %s vs uninterrupted %s\n", name, NR + 10 - n, f, $2, $1; bad = 1 } }
    END { exit bad }' || fail "$2 differs from the uninterrupted run"
}

train full 8 2 2 1 --checkpoint.dir=ck --checkpoint.interval=5
h5dump -a /layout ck/step_00000005/state.h5 > layout.txt
contains layout.txt "tensor=2 pipeline=2 data=2 zero=1"
for layout in "r111 1 1 1 1" "r412_z2 8 4 1 2" "r124_z3 8 1 2 3" "r211_z0 2 2 1 0"; do
  set -- $layout
  train "$1" "$2" "$3" "$4" "$5" --checkpoint.load=ck/step_00000005 --checkpoint.dir="$1.ck" --checkpoint.interval=7
  contains "$1.out" "resumed from checkpoint ck/step_00000005: step 5"
  compare full "$1" loss 1e-5
  compare full "$1" grad_norm 1e-4
done
# The (4, 1, 2) run's own step-7 checkpoint, resumed on one rank: a checkpoint written in another layout
# holds the same model and optimizer state.
train back 1 1 1 1 --checkpoint.load=r412_z2.ck/step_00000007
compare full back loss 1e-5 3
train back_z3 1 1 1 1 --checkpoint.load=r124_z3.ck/step_00000007
compare full back_z3 loss 1e-5 3
echo "checkpoint_reshard: every layout resumes the (2, 2, 2) checkpoint"
