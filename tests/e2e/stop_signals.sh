#!/usr/bin/env bash
# stop_signals.sh — stopping early without Slurm, through the real mpirun launcher (jobs/mpirun-train.sh)
# and plain mpirun on 2 ranks (data 2, ZeRO 1): a SIGUSR1 to the launcher script, a SIGTERM to one rank's
# process only, a storm of further signals while the checkpoint is written, and train.max_minutes each
# stop every rank at the same step boundary with exit 75, a checkpoint of that step named by `latest`,
# and a message; running the same command again resumes and finishes with per-step losses and gradient
# norms identical (as logged, 17 digits) to the uninterrupted run, and the final checkpoints are equal.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

make_small_shards
STEPS=80
ARGS=(--model.layers=2 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=2
      --train.global_batch=8 --train.steps="$STEPS" --train.log_interval=1 --optim.warmup_steps=2
      --data.train=shards/train_*.h5 --data.valid= --log.peak_tflops=1)
CFG="$SRC/configs/gpt-tiny.ini"
export OMP_NUM_THREADS=1 STRATA_TRAIN="$BIN/strata-train" MPIRUN="$MPIEXEC"
export STRATA_MPIRUN_ARGS="--oversubscribe --bind-to none"
launch() {  # launch NAME [overrides...]: jobs/mpirun-train.sh, 2 ranks, in the background; sets PID (of
  # `timeout`) and LAUNCHER (the script under it, which receives the signals)
  local name=$1; shift
  timeout 300 "$SRC/jobs/mpirun-train.sh" -n 2 "$CFG" "${ARGS[@]}" --checkpoint.dir="$name.ck" \
    --log.metrics="$name.jsonl" "$@" >> "$name.out" 2>&1 &
  PID=$!
  LAUNCHER=""
  until [[ -n $LAUNCHER ]]; do LAUNCHER=$(pgrep -P "$PID" || true); done
}
finish() {  # finish NAME WANT_RC: waits for PID and checks its exit code
  local rc=0
  wait "$PID" || rc=$?
  [[ $rc == "$2" ]] || { cat "$1.out"; fail "$1 exited $rc, expected $2"; }
}
logged_steps() { [[ -f $1.jsonl ]] && wc -l < "$1.jsonl" || echo 0; }
wait_steps() {  # wait_steps NAME N: until run NAME has logged N steps
  until [[ $(logged_steps "$1") -ge $2 ]]; do
    kill -0 "$PID" 2>/dev/null || { cat "$1.out"; fail "$1 ended before step $2"; }
    sleep 0.05
  done
}
losses() { grep -o '"grad_norm":[0-9.e+-]*,"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1.jsonl" | sed 's/,"lr.*"step":/ /'; }
# Run $1 stopped once and resumed: its steps 1..STEPS exactly as the reference, its stop step K saved.
check_stopped_and_resumed() {
  local name=$1 k
  k=$(sed -n 's/.*stopping at step \([0-9]*\) of.*/\1/p' "$name.out" | head -1)
  [[ -n $k && $k -lt $STEPS ]] || { cat "$name.out"; fail "$name: no 'stopping at step K' before step $STEPS"; }
  contains "$name.out" "checkpoint $name.ck/step_$(printf %08d "$k"), exit 75: run again to resume"
  contains "$name.out" "stopped with a checkpoint saved: run this command again"
  launch "$name"
  finish "$name" 0
  contains "$name.out" "resumed from checkpoint $name.ck/step_$(printf %08d "$k"): step $k"
  diff <(losses ref) <(losses "$name") || fail "$name: per-step losses differ from the uninterrupted run"
  for g in params exp_avg exp_avg_sq; do
    h5diff -q "ref.ck/step_000000$STEPS/state.h5" "$name.ck/step_000000$STEPS/state.h5" "/$g" "/$g" ||
      fail "$name: final /$g differs from the uninterrupted run"
  done
}

# The uninterrupted run.
launch ref
finish ref 0
[[ $(logged_steps ref) == "$STEPS" ]] || fail "ref: expected $STEPS metrics lines"
contains ref.out "launch: mpirun | 2 ranks on 1 node"
contains ref.out "launch: MPI rank, local rank and world match the mpirun variables on every rank"
contains ref.out "finished: train.steps reached"

# SIGUSR1 to the launcher script: forwarded to mpirun, which forwards it to both ranks.
launch usr1
wait_steps usr1 3
kill -USR1 "$LAUNCHER"
finish usr1 75
[[ "$(cat usr1.ck/latest)" == "step_$(printf %08d "$(logged_steps usr1)")" ]] || fail "usr1: latest is not the last logged step"
contains usr1.out "SIGUSR1 received: asking the ranks to save a checkpoint and stop"
contains usr1.out "signal (SIGUSR1)"
check_stopped_and_resumed usr1

# SIGTERM to one rank only (plain mpirun): the other rank learns it through the all-reduce.
run_mpirun() {  # in the background, like launch, without the launcher script
  timeout 300 "$MPIEXEC" --oversubscribe --bind-to none -np 2 "$BIN/strata-train" "$CFG" "${ARGS[@]}" --checkpoint.dir=term.ck --checkpoint.load=auto \
    --log.metrics=term.jsonl >> term.out 2>&1 &
  PID=$!
}
run_mpirun
wait_steps term 3
mapfile -t ranks < <(pgrep -f "^$BIN/strata-train $CFG .*term.ck" || true)
[[ ${#ranks[@]} == 2 ]] || fail "term: expected 2 rank processes under mpirun, found ${ranks[*]:-none}"
kill -TERM "${ranks[1]}"
finish term 75
contains term.out "checkpoint term.ck/step_"
k=$(sed -n 's/.*stopping at step \([0-9]*\) of.*/\1/p' term.out)
# Rank 0 did not get the signal itself.
grep -q "stopping at step $k of $STEPS: signal (received by another rank)" term.out || grep -q "stopping at step $k of $STEPS: signal (SIGTERM)" term.out ||
  { cat term.out; fail "term: no stop message"; }
run_mpirun
finish term 0
diff <(losses ref) <(losses term) || fail "term: per-step losses differ from the uninterrupted run"

# Signals keep coming while the checkpoint is written: the save completes, latest names it, resume is exact.
launch storm
wait_steps storm 3
kill -USR1 "$LAUNCHER"
while kill -0 "$PID" 2>/dev/null; do
  for p in $(pgrep -f "^$BIN/strata-train $CFG .*storm.ck" || true); do kill -USR1 "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.01
done
finish storm 75
check_stopped_and_resumed storm

# train.max_minutes: a budget far below one step stops after the first step (the reserve is two steps
# plus a save); resuming with no budget finishes the run identically.
launch budget --train.max_minutes=0.0001
finish budget 75
contains budget.out "stopping at step 1 of $STEPS: time budget"
launch budget
finish budget 0
diff <(losses ref) <(losses budget) || fail "budget: per-step losses differ from the uninterrupted run"

echo "stop_signals: SIGUSR1 to the launcher, SIGTERM to one rank, a signal storm during the save and the time budget all stop at a step boundary with exit 75 and a checkpoint; each resume matches the uninterrupted run"
