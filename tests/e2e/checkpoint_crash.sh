#!/usr/bin/env bash
# checkpoint_crash.sh — a rank killed (SIGKILL) during a save, before any data is written, half-way through
# its data (sync and async), or after the step directory is complete but before `latest` is updated,
# leaves the previous checkpoint as the one `latest` names and no half-written step_* directory; the
# restart with checkpoint.load=auto resumes from it and reaches the same losses as the uninterrupted run.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

for i in $(seq 1 300); do printf 'record %d: %s\n%%\n' "$i" "$(printf 'abcdefghij%.0s' $(seq 1 $((i % 7 + 1))))"; done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --valid-fraction 0.1 --out shards corpus.txt > /dev/null
ARGS=(--model.layers=2 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=2
      --train.global_batch=8 --train.steps=10 --train.log_interval=1 --optim.warmup_steps=2
      --data.train=shards/train_*.h5 --data.valid= --log.peak_tflops=1 --parallel.zero_stage=1)
export OMP_NUM_THREADS=1
train() {  # train NAME [overrides...] on 2 ranks; returns mpiexec's exit code
  local name="$1" rc=0; shift
  timeout 240 "$MPIEXEC" -np 2 "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" \
    --log.metrics="$name.jsonl" "$@" > "$name.out" 2>&1 || rc=$?
  return $rc
}
losses() { grep -o '"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1.jsonl" | sed 's/,"lr.*"step":/ /' | awk '$NF > 5'; }

train full --checkpoint.dir=full.ck --checkpoint.interval=5 || { cat full.out; fail "the uninterrupted run failed"; }
for crash in "before_data 1 false" "mid_data 0 false" "mid_data 1 true" "before_latest 0 false"; do
  set -- $crash
  name="$1.rank$2.async_$3"
  rc=0
  STRATA_TEST_CRASH_AT=$1 STRATA_TEST_CRASH_RANK=$2 STRATA_TEST_CRASH_STEP=10 \
    train "$name" --checkpoint.dir="$name.ck" --checkpoint.interval=5 --checkpoint.async="$3" || rc=$?
  [[ $rc != 0 ]] || { cat "$name.out"; fail "$name: the killed run exited 0"; }
  contains "$name.out" "STRATA_TEST_CRASH_AT=$1: killing this rank"
  [[ "$(cat "$name.ck/latest")" == step_00000005 ]] || fail "$name: latest is $(cat "$name.ck/latest")"
  if [[ $1 != before_latest ]]; then
    [[ ! -e "$name.ck/step_00000010" ]] || fail "$name: a half-written step_00000010 exists"
  fi
  train "$name.restart" --checkpoint.dir="$name.ck" --checkpoint.load=auto --checkpoint.interval=5 \
    || { cat "$name.restart.out"; fail "$name: the restart failed"; }
  contains "$name.restart.out" "resumed from checkpoint $name.ck/step_00000005: step 5"
  diff <(losses full) <(losses "$name.restart") || fail "$name: the restart's losses differ from the uninterrupted run"
  [[ "$(cat "$name.ck/latest")" == step_00000010 ]] || fail "$name: the restart did not save step 10"
  for g in params exp_avg exp_avg_sq; do
    h5diff -q full.ck/step_00000010/state.h5 "$name.ck/step_00000010/state.h5" "/$g" "/$g" || fail "$name: /$g differs"
  done
done
echo "checkpoint_crash: every crash point leaves a usable previous checkpoint"
