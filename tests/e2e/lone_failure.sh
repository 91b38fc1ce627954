#!/usr/bin/env bash
# lone_failure.sh — a rank that fails alone ends the whole job instead of leaving the others waiting in
# their next collective until the time limit (parallel/abort_lone_failure.h, docs/jobs.md):
# - 4 ranks, rank 2 alone throws a data error at step 3 (test hook STRATA_TEST_FAIL_RANK/STEP): mpiexec
#   returns (within `timeout`) with exit 3, rank 2's error and its line saying it aborts the job;
#   the same mid-step (reading micro-batch 2 of step 3, STRATA_TEST_FAIL_MICRO_BATCH) on pipeline 2 x
#   data 2 and on ZeRO-3 data 4, with earlier micro-batches' communication in flight;
# - a real lone failure: log.metrics in a missing directory fails on rank 0 only (the only rank that
#   writes metrics) while the others start training: exit 2, rank 0 named, the job aborted;
# - an error every rank detects (a bad configuration value) still ends every rank normally: exit 2,
#   each rank's own message and no abort line (default wait, STRATA_ERROR_EXIT_SECONDS unset);
# - one rank without mpirun: the hook's exit 3, no waiting, no abort line.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

make_small_shards
export OMP_NUM_THREADS=1
# A hang shows as exit 124 from `timeout`, never as the expected code.
train4() { timeout 240 "$MPIEXEC" -np 4 "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${SMALL_ARGS[@]}" "$@"; }
train1() { timeout 240 "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${SMALL_ARGS[@]}" "$@"; }
# `contains` for stderr, where mpiexec may join the ranks' lines.
no_abort() { ! grep -q "aborting the job" err.txt || { cat err.txt; fail "an abort line where every rank failed"; }; }

# Rank 2 fails alone at step 3 (the others wait in step 3's gradient all-reduce). A short wait: the
# other ranks cannot arrive, so any value gives the same result.
STRATA_ERROR_EXIT_SECONDS=3 STRATA_TEST_FAIL_RANK=2 STRATA_TEST_FAIL_STEP=3 expect 3 train4 --log.metrics=m.jsonl
contains err.txt "strata-train: rank 2: error: STRATA_TEST_FAIL_RANK=2 STRATA_TEST_FAIL_STEP=3: rank 2 fails alone at step 3"
contains err.txt "strata-train: rank 2: leaving alone with exit code 3 (the other ranks did not stop within 3 s): aborting the job"
[[ $(wc -l < m.jsonl) == 2 ]] || { cat m.jsonl; fail "expected the metrics of steps 1 and 2 before the failure"; }
! grep -q "rank [013]: error" err.txt || { cat err.txt; fail "a rank other than 2 reported an error"; }

# Mid-step, with communication of earlier micro-batches in flight (8 and 4 micro-batches per data rank and
# step): reading micro-batch 2 fails on one rank of pipeline 2 x data 2 (the first stage: sends of
# activations pending) and of ZeRO-3 data 4 (gathers and reduce-scatters pending).
for layout in "0 --parallel.pipeline=2" "3 --parallel.zero_stage=3"; do
  set -- $layout
  STRATA_ERROR_EXIT_SECONDS=3 STRATA_TEST_FAIL_RANK=$1 STRATA_TEST_FAIL_STEP=3 STRATA_TEST_FAIL_MICRO_BATCH=2 \
    expect 3 train4 --train.global_batch=32 "$2" --log.metrics=mid.jsonl
  contains err.txt "strata-train: rank $1: error: STRATA_TEST_FAIL_RANK=$1 STRATA_TEST_FAIL_STEP=3 STRATA_TEST_FAIL_MICRO_BATCH=2: rank $1 fails alone reading micro-batch 2 of step 3"
  contains err.txt "strata-train: rank $1: leaving alone with exit code 3"
done

# A real lone failure: only rank 0 opens log.metrics.
STRATA_ERROR_EXIT_SECONDS=3 expect 2 train4 --log.metrics=missing-dir/m.jsonl
contains err.txt "strata-train: rank 0: error: log.metrics: cannot open missing-dir/m.jsonl for appending"
contains err.txt "strata-train: rank 0: leaving alone with exit code 2"
contains err.txt "aborting the job"

# Every rank rejects the configuration: each says so, nobody aborts.
expect 2 train4 --train.micro_batch=3
for r in 0 1 2 3; do contains err.txt "strata-train: rank $r: error:"; done
contains err.txt "train.micro_batch"
no_abort

# One rank: nothing to wait for.
STRATA_TEST_FAIL_RANK=0 STRATA_TEST_FAIL_STEP=2 expect 3 train1 --log.metrics=m1.jsonl
contains err.txt "strata-train: error: STRATA_TEST_FAIL_RANK=0 STRATA_TEST_FAIL_STEP=2: rank 0 fails alone at step 2"
no_abort
echo "lone_failure: a rank failing alone aborts the job with its exit code; agreed errors end normally"
