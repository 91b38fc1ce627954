#!/usr/bin/env bash
# checkpoint_resume.sh — resume on the same layout reproduces the uninterrupted run bit for bit: 10 steps
# saving at step 5 and 10, against a run resumed from step 5; per-step losses and grad norms identical as
# printed (17 digits), and the step-10 checkpoints of both runs identical in every dataset (h5diff), with
# synchronous and asynchronous saves, on one rank and on 2 ranks (data 2, ZeRO 1) and 4 ranks (tensor 2
# x pipeline 2). Also: the step directory layout, latest, checkpoint.keep, and the resume message.
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
train() {  # train NAME NP [overrides...]
  local name="$1" np="$2" rc=0; shift 2
  timeout 240 "$MPIEXEC" -np "$np" "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" \
    --log.metrics="$name.jsonl" "$@" > "$name.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { cat "$name.out"; fail "$name exited $rc"; }
}
# The steps > 5 of run $1 and run $2, loss and grad_norm exactly as logged.
steps_after5() { grep -o '"grad_norm":[0-9.e+-]*,"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1.jsonl" | sed 's/,"lr.*"step":/ /' | awk '$NF > 5'; }
same_steps() {
  diff <(steps_after5 "$1") <(steps_after5 "$2") || fail "$2: losses after the resume differ from $1"
  [[ $(steps_after5 "$2" | wc -l) == 5 ]] || fail "$2: expected 5 steps after the resume"
}
same_checkpoint() {  # same_checkpoint DIR1 DIR2: every dataset of step 10 identical
  for g in params exp_avg exp_avg_sq; do
    h5diff -q "$1/step_00000010/state.h5" "$2/step_00000010/state.h5" "/$g" "/$g" || fail "$1 and $2 differ in /$g"
  done
}

for layout in "single 1" "dp2 2 --parallel.zero_stage=1" "tp2_pp2 4 --parallel.tensor=2 --parallel.pipeline=2"; do
  set -- $layout
  name=$1 np=$2; shift 2
  train "$name.full" "$np" "$@" --checkpoint.dir="$name.ck" --checkpoint.interval=5
  [[ -f "$name.ck/step_00000005/state.h5" && -f "$name.ck/step_00000010/state.h5" ]] || fail "$name: step directories missing"
  [[ "$(cat "$name.ck/latest")" == step_00000010 ]] || fail "$name: latest does not name step_00000010"
  train "$name.resumed" "$np" "$@" --checkpoint.load="$name.ck/step_00000005" --checkpoint.dir="$name.resumed.ck"
  contains "$name.resumed.out" "resumed from checkpoint $name.ck/step_00000005: step 5"
  same_steps "$name.full" "$name.resumed"
  same_checkpoint "$name.ck" "$name.resumed.ck"
  # Asynchronous saves: the same checkpoints, and a resume from one gives the same steps again.
  train "$name.async" "$np" "$@" --checkpoint.dir="$name.async.ck" --checkpoint.interval=5 --checkpoint.async=true
  same_checkpoint "$name.ck" "$name.async.ck"
  rm -rf "$name.async.ck/step_00000010"; printf 'step_00000005\n' > "$name.async.ck/latest"
  train "$name.async_resumed" "$np" "$@" --checkpoint.dir="$name.async.ck" --checkpoint.load=auto --checkpoint.async=true
  same_steps "$name.full" "$name.async_resumed"
  same_checkpoint "$name.ck" "$name.async.ck"
done

# checkpoint.keep: with interval 2 and keep 2 only the two newest remain; no temporary directory is left.
train keep 1 --checkpoint.dir=keep.ck --checkpoint.interval=2 --checkpoint.keep=2
[[ "$(cd keep.ck && echo *)" == "latest step_00000008 step_00000010" ]] || fail "keep: found $(ls -A keep.ck)"
[[ -z "$(cd keep.ck && ls -A | grep tmp || true)" ]] || fail "keep: a temporary directory was left"
echo "checkpoint_resume: resumed runs match the uninterrupted ones bit for bit"
