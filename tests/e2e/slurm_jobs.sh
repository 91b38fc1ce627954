#!/usr/bin/env bash
# slurm_jobs.sh — the real batch script jobs/train.sbatch under a real single-node Slurm (slurmctld +
# slurmd + munge on localhost, started and stopped here; lib/slurm.sh), 4 CPU ranks (tensor 2 x data 2,
# ZeRO 1) oversubscribed, with the tiny model:
#   1. a job runs to train.steps, exits COMPLETED, writes its final checkpoint (latest) and logs every
#      rank's MPI rank/local rank/world against SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS;
#   2. preemption: `scancel --batch --signal=USR1` mid-run (what `#SBATCH --signal=B:USR1@N` sends) ->
#      the script forwards it to srun -> every rank stops at one step boundary, saves a checkpoint and
#      exits 75 -> the script requeues the job -> the job starts again (restart 1), resumes from latest
#      and completes, with per-step losses and gradient norms identical to job 1 (as logged, 17 digits)
#      and the same final parameters and Adam state.
# Exit 77 (skipped, reason printed) only where Slurm cannot be installed.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)"
source "$LIB/common.sh"  # WORK (cwd), fail, expect, contains
source "$LIB/slurm.sh"   # slurm_start, slurm_wait_job, slurm_state, skip

make_small_shards
slurm_start

STEPS=30
ARGS=(--model.layers=2 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=2
      --train.global_batch=8 --train.steps="$STEPS" --train.log_interval=1 --optim.warmup_steps=2
      --parallel.tensor=2 --parallel.zero_stage=1 --data.train="$WORK/shards/train_*.h5" --data.valid=
      --log.peak_tflops=1)
export OMP_NUM_THREADS=1 STRATA_TRAIN="$BIN/strata-train"
submit() {  # submit NAME: sbatch of the real script, 4 tasks; prints the job id
  sbatch --parsable --ntasks=4 --nodes=1 --ntasks-per-node=4 --job-name="$1" --output="$WORK/$1.out" \
    "$SRC/jobs/train.sbatch" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" --checkpoint.dir="$WORK/$1.ck" \
    --log.metrics="$WORK/$1.jsonl"
}
losses() { grep -o '"grad_norm":[0-9.e+-]*,"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1.jsonl" | sed 's/,"lr.*"step":/ /'; }
job_field() { scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
final_state_equal() {
  for g in params exp_avg exp_avg_sq; do
    h5diff -q "$1.ck/step_000000$STEPS/state.h5" "$2.ck/step_000000$STEPS/state.h5" "/$g" "/$g" ||
      fail "$2: final /$g differs from $1"
  done
}

# ---- 1. a job that runs to the end ----
full=$(submit full)
slurm_wait_job "$full" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY
[[ $(slurm_state "$full") == COMPLETED ]] || { cat full.out; fail "job $full ended $(slurm_state "$full")"; }
[[ $(job_field "$full" ExitCode) == 0:0 ]] || { cat full.out; fail "job $full exit code $(job_field "$full" ExitCode)"; }
[[ $(wc -l < full.jsonl) == "$STEPS" ]] || { cat full.out; fail "job $full: expected $STEPS metrics lines"; }
[[ $(cat full.ck/latest) == "step_000000$STEPS" ]] || fail "job $full: latest does not name step $STEPS"
contains full.out "launch: srun | 4 ranks on 1 node | Slurm job $full, restart 0"
contains full.out "launch: rank 3/4 local 3/4 on $(hostname) | SLURM_PROCID 3 SLURM_LOCALID 3 SLURM_NTASKS 4"
contains full.out "launch: MPI rank, local rank and world match the srun variables on every rank"
contains full.out "tensor 2 x pipeline 1 x data 2"
contains full.out "finished: train.steps reached"

# ---- 2. preempted by USR1 to the batch shell, requeued, resumed ----
pre=$(submit pre)
until [[ -f pre.jsonl && $(wc -l < pre.jsonl) -ge 3 ]]; do
  [[ $(slurm_state "$pre") =~ ^(PENDING|CONFIGURING|RUNNING)$ ]] || { cat pre.out; fail "job $pre ended before step 3"; }
  sleep 0.1
done
scancel --batch --signal=USR1 "$pre"
# The script requeues the job; it starts again once its old credential expired (10 s here).
slurm_wait_job "$pre" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY
[[ $(slurm_state "$pre") == COMPLETED ]] || { cat pre.out; fail "job $pre ended $(slurm_state "$pre")"; }
[[ $(job_field "$pre" Restarts) == 1 ]] || { cat pre.out; fail "job $pre: expected one restart"; }
k=$(sed -n 's/.*stopping at step \([0-9]*\) of.*/\1/p' pre.out)
[[ -n $k && $k -lt $STEPS ]] || { cat pre.out; fail "job $pre: no stop before step $STEPS"; }
ck="$WORK/pre.ck/step_$(printf %08d "$k")"
contains pre.out "SIGUSR1 received: asking the ranks to save a checkpoint and stop"
contains pre.out "stopping at step $k of $STEPS: signal (SIGUSR1)"
contains pre.out "checkpoint $ck, exit 75"
contains pre.out "requeueing job $pre to resume from latest"
contains pre.out "launch: srun | 4 ranks on 1 node | Slurm job $pre, restart 1"
contains pre.out "resumed from checkpoint $ck: step $k"
contains pre.out "finished: train.steps reached"
diff <(losses full) <(losses pre) || fail "job $pre: per-step losses after the requeue differ from job $full"
final_state_equal full pre
echo "slurm_jobs: job $full completed with its checkpoint; job $pre stopped at step $k on USR1, was requeued and resumed to the same losses"
