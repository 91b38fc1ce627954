#!/usr/bin/env bash
# data_bad_input.sh — strata-train on bad token shards, as a user meets them: each case exits 3 (bad
# data) or 2 (usage) with a message naming the file (and the dataset or offset where there is one),
# before any training step runs (no "step" line). The malformed files come from the test helper
# strata_test_make_shards (tests/bench/make_bad_shards.cpp, HDF5 C API; h5py is not needed). Under
# mpirun -np 2 every rank reports a vocabulary mismatch and the job exits 3 without hanging.
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-train}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
MAKE_SHARDS="$BIN/../tests/bench/strata_test_make_shards"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains
[[ -x "$MAKE_SHARDS" ]] || fail "test helper $MAKE_SHARDS not built"
"$MAKE_SHARDS" shards

CFG="$SRC/configs/gpt-tiny.ini"
TINY=(--model.layers=1 --model.hidden=32 --model.heads=2 --model.seq_len=32 --model.vocab_size=257
      --train.micro_batch=2 --train.global_batch=4 --train.steps=3 --train.log_interval=1 --train.eval_steps=1
      --data.valid= --log.metrics=metrics.jsonl)

# run WANT_RC [NEEDLE ...] -- [strata-train arguments]: exit code WANT_RC, every NEEDLE in stderr, and
# no training step logged.
run() {
  local want="$1"; shift
  local needles=()
  while [[ "$1" != "--" ]]; do needles+=("$1"); shift; done
  shift
  local rc=0
  timeout 120 "$BIN/strata-train" "$CFG" "${TINY[@]}" "$@" >out.txt 2>err.txt || rc=$?
  if [[ "$rc" != "$want" ]]; then
    echo "--- stdout"; cat out.txt; echo "--- stderr"; cat err.txt
    fail "strata-train $* exited $rc, expected $want"
  fi
  local n
  for n in "${needles[@]}"; do
    grep -qF -- "$n" err.txt || { cat err.txt; fail "strata-train $*: '$n' not in the error message"; }
  done
  if grep -q '^step ' out.txt; then cat out.txt; fail "strata-train $*: a training step ran before the error"; fi
  echo "ok ($rc): $* -> $(head -c 200 err.txt | tr '\n' ' ')"
}

# The control: the good shards train.
rc=0
timeout 120 "$BIN/strata-train" "$CFG" "${TINY[@]}" --data.train=shards/good.h5,shards/good2.h5 >out.txt 2>err.txt || rc=$?
[[ "$rc" == 0 ]] || { cat out.txt err.txt; fail "the good shards do not train (exit $rc)"; }
grep -q '^step ' out.txt || fail "no step line for the good shards"

# Files that are not shards, or not there.
run 3 shards/missing.h5 "not found"               -- --data.train=shards/missing.h5
run 3 shards/truncated.h5                         -- --data.train=shards/truncated.h5
run 3 shards/corrupt_meta.h5                      -- --data.train=shards/corrupt_meta.h5
run 3 shards/no_tokens.h5 /tokens                 -- --data.train=shards/no_tokens.h5
run 3 shards/tokens_2d.h5 /tokens                 -- --data.train=shards/tokens_2d.h5
run 3 shards/tokens_float.h5 /tokens "unsigned"   -- --data.train=shards/tokens_float.h5
run 3 shards/no_vocab.h5 vocab_size               -- --data.train=shards/no_vocab.h5
# Vocabularies: shards that disagree, a shard vocabulary larger than the model's.
run 3 shards/good.h5 shards/vocab_300.h5 vocab_size data.train -- --data.train=shards/good.h5,shards/vocab_300.h5
run 3 shards/vocab_1000.h5 model.vocab_size 1000  -- --data.train=shards/vocab_1000.h5
run 3 shards/vocab_1000.h5 data.valid             -- --data.train=shards/good.h5 --data.valid=shards/vocab_1000.h5
# Empty input: zero tokens, a directory without shards, a glob matching nothing, no data at all.
run 3 shards/empty.h5 "no tokens"                 -- --data.train=shards/empty.h5
run 3 shards/empty_dir "*.h5"                     -- --data.train=shards/empty_dir
run 3 "shards/nothing_*.h5"                       -- "--data.train=shards/nothing_*.h5"
run 2 data.train                                  -- --data.train=
# A sample longer than the data.
run 3 shards/short.h5 "sequence longer than the data" model.seq_len -- --data.train=shards/short.h5
# Damage found only when the tokens are read (the first micro-batch, still before step 1 is logged).
run 3 shards/corrupt_chunk.h5 /tokens             -- --data.train=shards/corrupt_chunk.h5
run 3 shards/bad_tokens.h5 "token 5000" "offset"  -- --data.train=shards/bad_tokens.h5

# Two ranks: both report the mismatch, exit 3, no hang.
rc=0
timeout 60 "$MPIEXEC" -np 2 "$BIN/strata-train" "$CFG" "${TINY[@]}" --data.train=shards/good.h5,shards/vocab_300.h5 \
  >out.txt 2>err.txt || rc=$?
[[ "$rc" != 124 ]] || fail "mpirun -np 2 with mismatched vocabularies hung (killed after 60 s)"
[[ "$rc" == 3 ]] || { cat out.txt err.txt; fail "mpirun -np 2 with mismatched vocabularies exited $rc, expected 3"; }
for r in 0 1; do
  grep "rank $r:" err.txt | grep -q "vocab_300.h5" || { cat err.txt; fail "rank $r did not report vocab_300.h5"; }
done
grep -q '^step ' out.txt && fail "mpirun -np 2: a training step ran before the error"
echo "data_bad_input: all checks passed"
