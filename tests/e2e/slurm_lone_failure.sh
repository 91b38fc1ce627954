#!/usr/bin/env bash
# slurm_lone_failure.sh — a rank that fails alone under a real single-node Slurm (lib/slurm.sh): the real
# batch script jobs/train.sbatch, 4 ranks (tensor 2 x data 2), rank 2 alone throws a data error at step 3
# (test hook STRATA_TEST_FAIL_RANK/STEP, docs/jobs.md): it aborts the job step, the job ends FAILED
# with exit code 3, is not requeued, and its output names rank 2 and the abort. Without the abort the
# other ranks would wait in step 3 until the job's time limit (none here: the ctest TIMEOUT would fail).
# Exit 77 (skipped, reason printed) only where Slurm cannot be installed or another Slurm runs here.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)"
source "$LIB/common.sh"  # WORK (cwd), fail, expect, contains
source "$LIB/slurm.sh"   # slurm_start, slurm_wait_job, slurm_state, skip

make_small_shards
slurm_start

export OMP_NUM_THREADS=1 STRATA_TRAIN="$BIN/strata-train"
# sbatch passes this environment on to the job (--export=ALL) and srun to every task.
export STRATA_TEST_FAIL_RANK=2 STRATA_TEST_FAIL_STEP=3 STRATA_ERROR_EXIT_SECONDS=3
job=$(sbatch --parsable --ntasks=4 --nodes=1 --ntasks-per-node=4 --job-name=lone --output="$WORK/lone.out" \
  "$SRC/jobs/train.sbatch" "$SRC/configs/gpt-tiny.ini" "${SMALL_ARGS[@]}" --data.train="$WORK/shards/train_*.h5" \
  --parallel.tensor=2 --checkpoint.dir="$WORK/lone.ck" --log.metrics="$WORK/lone.jsonl")
slurm_wait_job "$job" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY
state=$(slurm_state "$job")
code=$(scontrol show job -o "$job" | tr ' ' '\n' | sed -n 's/^ExitCode=//p')
restarts=$(scontrol show job -o "$job" | tr ' ' '\n' | sed -n 's/^Restarts=//p')
echo "job $job: $state, ExitCode $code, restarts $restarts"
[[ $state == FAILED ]] || { cat lone.out; fail "job $job ended $state, expected FAILED"; }
[[ $code == 3:0 ]] || { cat lone.out; fail "job $job: ExitCode $code, expected 3:0"; }
[[ $restarts == 0 ]] || { cat lone.out; fail "job $job was requeued"; }
contains lone.out "strata-train: rank 2: error: STRATA_TEST_FAIL_RANK=2 STRATA_TEST_FAIL_STEP=3"
contains lone.out "strata-train: rank 2: leaving alone with exit code 3"
contains lone.out "aborting the job"
echo "slurm_lone_failure: rank 2 failing alone ended job $job FAILED with exit code 3"
