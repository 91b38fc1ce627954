#!/usr/bin/env bash
# train_bf16.sh — train.precision=bf16 from the shell (CPU backend: bf16 GEMMs emulated): a short run
# with --train.precision=bf16 and one with the config file's [train] precision = bf16 give the same
# losses, which follow the fp32 run's within 2e-2 relative without being identical to them (the bf16
# GEMMs were used); tensor 2 under mpirun, without and with sequence parallelism (bf16 row gathers),
# matches the single-rank bf16 run within 1e-4 relative (see
# tests/mpi_train/test_bf16_training.cpp for why bf16 layouts differ more than fp32's 1e-5); a resume
# from a checkpoint continues bit for bit (one rank, data 2 ZeRO-3); the run's and the benchmark's logs say precision
# bf16; an unknown precision is refused with exit 2 naming the key.
set -euo pipefail

BIN="${STRATA_BIN:?}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

make_small_shards
export OMP_NUM_THREADS=1 STRATA_BACKEND=cpu
CFG="$SRC/configs/gpt-tiny.ini"
train() {  # train NAME [MORE ARGS...]
  expect 0 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --log.metrics="$1.jsonl" "${@:2}"
  [[ $(wc -l < "$1.jsonl") == 10 ]] || fail "$1: expected 10 metrics lines"
}
losses() { sed 's/.*"loss":\([0-9.e+-]*\).*/\1/' "$1.jsonl"; }
within() {  # within A B RTOL: every step's loss of run B within RTOL relative of run A's, all finite
  paste <(losses "$1") <(losses "$2") | awk -v tol="$3" -v a="$1" -v b="$2" '
    { if ($2 != $2 + 0 || $2 == "inf" || $2 == "nan") bad = 1;
      d = $1 - $2; if (d < 0) d = -d;
      if (d > tol * $1) { printf "step %d: %s loss %s vs %s %s\n", NR, b, $2, a, $1; bad = 1 } }
    END { exit bad }' || fail "$2 differs from $1 by more than $3 relative"
}

train fp32 --train.precision=fp32
train bf16 --train.precision=bf16
contains out.txt "| precision bf16"
within fp32 bf16 2e-2
if diff <(losses fp32) <(losses bf16) > /dev/null; then fail "bf16 losses are identical to fp32: bf16 was not used"; fi

# The config file's key works like the command line's.
sed 's/^precision *=.*//' "$CFG" | awk '{ print } /^\[train\]/ { print "precision = bf16" }' > bf16.ini
grep -q "^precision = bf16" bf16.ini || fail "could not write precision = bf16 into the [train] section"
CFG_SAVED=$CFG; CFG=bf16.ini
train bf16_ini
CFG=$CFG_SAVED
diff <(losses bf16) <(losses bf16_ini) > /dev/null || fail "[train] precision = bf16 differs from --train.precision=bf16"

# Tensor 2 under mpirun against the single-rank bf16 run.
expect 0 timeout 240 "$MPIEXEC" -np 2 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.precision=bf16 \
  --parallel.tensor=2 --log.metrics=bf16_tp2.jsonl
within bf16 bf16_tp2 1e-4
# ... and with sequence parallelism, which all-gathers the bf16 LayerNorm rows.
expect 0 timeout 240 "$MPIEXEC" -np 2 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.precision=bf16 \
  --parallel.tensor=2 --parallel.sequence_parallel=true --log.metrics=bf16_tp2_sp.jsonl
within bf16 bf16_tp2_sp 1e-4

# Resume: a bf16 run resumed from its step-5 checkpoint continues bit for bit (the bf16 working copy is
# rounded from the loaded fp32 master weights), on one rank and with data 2 ZeRO-3 (per-range copies).
steps_after5() { grep -o '"grad_norm":[0-9.e+-]*,"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1.jsonl" | sed 's/,"lr.*"step":/ /' | awk '$NF > 5'; }
for layout in "single 1" "dp2_zero3 2 --parallel.zero_stage=3"; do
  set -- $layout
  name=$1 np=$2; shift 2
  expect 0 timeout 240 "$MPIEXEC" -np "$np" "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.precision=bf16 "$@" \
    --checkpoint.dir="$name.ck" --checkpoint.interval=5 --log.metrics="$name.full.jsonl"
  expect 0 timeout 240 "$MPIEXEC" -np "$np" "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.precision=bf16 "$@" \
    --checkpoint.load="$name.ck/step_00000005" --log.metrics="$name.resumed.jsonl"
  [[ $(steps_after5 "$name.resumed" | wc -l) == 5 ]] || fail "$name: expected 5 steps after the resume"
  diff <(steps_after5 "$name.full") <(steps_after5 "$name.resumed") || fail "$name: bf16 resume differs"
done

# The benchmark reports the precision it ran and the activation memory, which bf16 storage cuts: per block
# 2 fp32 + 14 bf16 values per token and hidden unit instead of 16 fp32 (36 against 64 bytes).
activation_mib() {  # sets mib
  expect 0 "$BIN/strata-train" "$CFG" --benchmark --model.layers=4 --model.hidden=64 --model.heads=2 \
    --model.seq_len=64 --train.micro_batch=4 --train.global_batch=4 --train.steps=2 --train.precision="$1"
  contains out.txt "precision $1"
  contains out.txt "RESULT tokens_per_s="
  mib=$(sed -nE 's/^RESULT .*activation_mib=([0-9.]+).*/\1/p' out.txt)
}
activation_mib fp32
fp32_mib=$mib
activation_mib bf16
bf16_mib=$mib
awk -v a="$bf16_mib" -v b="$fp32_mib" 'BEGIN { exit !(a > 0 && a < 0.75 * b) }' ||
  fail "bf16 activation memory $bf16_mib MiB is not below 3/4 of fp32's $fp32_mib MiB"

expect 2 "$BIN/strata-train" "$CFG" "${SMALL_ARGS[@]}" --train.precision=fp16
contains err.txt "train.precision"
echo "train_bf16: ok"
