# common.sh — sourced by the end-to-end test scripts: a temporary work directory (removed on exit),
# `fail MSG`, `expect CODE CMD...` (runs CMD, which may be a shell function, keeping its stdout/stderr in
# out.txt and err.txt, and checks its exit code) and `contains FILE TEXT`. Hangs are bounded by the
# CTest TIMEOUT of each script, and every mpiexec in the scripts runs under `timeout`.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }

expect() {
  local want="$1"; shift
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  if [[ "$rc" != "$want" ]]; then
    echo "--- stdout"; cat out.txt; echo "--- stderr"; cat err.txt
    fail "'$*' exited $rc, expected $want"
  fi
}

contains() { grep -qF -- "$2" "$1" || { cat "$1"; fail "'$2' not in $1"; }; }

# make_small_shards: a small corpus of 300 '%'-separated records, tokenized (byte tokenizer, 10% held out)
# into ./shards, for the training tests. SMALL_ARGS: strata-train overrides for a 2-layer model on them,
# 10 steps of 8 sequences in micro-batches of 2 (append overrides to change any: the last one wins).
make_small_shards() {
  local i
  for i in $(seq 1 300); do printf 'record %d: %s\n%%\n' "$i" "$(printf 'abcdefghij%.0s' $(seq 1 $((i % 7 + 1))))"; done > corpus.txt
  "${STRATA_BIN:?}/strata-data" build --tokenizer byte --valid-fraction 0.1 --out shards corpus.txt > /dev/null
}
SMALL_ARGS=(--model.layers=2 --model.hidden=32 --model.heads=4 --model.seq_len=16 --train.micro_batch=2
            --train.global_batch=8 --train.steps=10 --train.log_interval=1 --optim.warmup_steps=2
            --data.train=shards/train_*.h5 --data.valid= --log.peak_tflops=1)
