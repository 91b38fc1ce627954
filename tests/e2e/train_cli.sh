#!/usr/bin/env bash
# train_cli.sh — strata-train from the shell, as a user runs it: a short real training run on shards
# made by strata-data (directly and under mpirun -np 1, which must give identical losses), the metrics
# file of SPEC section 6, and exit codes 2 (configuration) and 3 (bad data) with the key/file named.
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-train}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

# A small corpus of '%'-separated documents with learnable structure.
for i in $(seq 1 400); do
  echo "document $i says: the cat sat on the mat and the dog sat on the log."
  echo "%"
done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --split delimiter --delimiter % --valid-fraction 0.1 --out shards corpus.txt > /dev/null

TINY=(--model.layers=2 --model.hidden=32 --model.heads=2 --model.seq_len=32 --train.micro_batch=4
      --train.global_batch=8 --train.steps=25 --train.log_interval=1 --train.eval_interval=10 --train.eval_steps=2
      --optim.lr=3e-3 --optim.warmup_steps=3 --data.train=shards/train_*.h5 --data.valid=shards/valid_*.h5)
CFG="$SRC/configs/gpt-tiny.ini"

# ---- a real run, directly ----
expect 0 "$BIN/strata-train" "$CFG" "${TINY[@]}" --log.metrics=direct.jsonl
contains out.txt "step     25/25"
contains out.txt "parameters"
[[ $(wc -l < direct.jsonl) == 25 ]] || fail "expected 25 metrics lines, got $(wc -l < direct.jsonl)"
for key in '"step":' '"loss":' '"lr":' '"grad_norm":' '"tokens":' '"step_ms":' '"tokens_per_s":' '"mfu":'; do
  contains direct.jsonl "$key"
done
[[ $(grep -c '"val_loss"' direct.jsonl) == 3 ]] || fail "expected val_loss at steps 10, 20, 25"
tail -n1 direct.jsonl | grep -q '"tokens":6400' || fail "cumulative tokens after 25 steps of 8x32 must be 6400"
loss() { sed -n "$1p" "$2" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/'; }
first=$(loss 1 direct.jsonl); last=$(loss 25 direct.jsonl)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.75 * a) }' || fail "loss did not fall: $first -> $last"

# ---- the same run under mpirun -np 1: identical per-step losses ----
expect 0 timeout 300 "$MPIEXEC" -np 1 "$BIN/strata-train" "$CFG" "${TINY[@]}" --log.metrics=mpi.jsonl
extract() { sed 's/.*"loss":\([0-9.e+-]*\),.*"step":\([0-9]*\).*/\2 \1/' "$1"; }
diff <(extract direct.jsonl) <(extract mpi.jsonl) > /dev/null || fail "mpirun -np 1 losses differ from the direct run"

# ---- help, usage and configuration errors: exit 2 naming the key ----
expect 0 "$BIN/strata-train" --help;            contains out.txt "model.layers"
expect 0 "$BIN/strata-train" --version;         contains out.txt "strata"
expect 2 "$BIN/strata-train";                   contains err.txt "no configuration file"
expect 2 "$BIN/strata-train" "$CFG" --model.layerz=3;  contains err.txt "model.layerz"
expect 2 "$BIN/strata-train" "$CFG" --model.heads=5;   contains err.txt "model.heads"
expect 2 "$BIN/strata-train" "$CFG" --train.global_batch=12; contains err.txt "train.global_batch"
expect 2 "$BIN/strata-train" nonexistent.ini;   contains err.txt "nonexistent.ini"
printf '[model]\nlayers = two\n' > bad.ini
expect 2 "$BIN/strata-train" bad.ini;           contains err.txt "model.layers"
# Every rank reports the configuration error and the job exits 2 without hanging.
expect 2 timeout 120 "$MPIEXEC" -np 2 "$BIN/strata-train" "$CFG" --parallel.tensor=3
[[ $(grep -c "parallel.tensor" err.txt) -ge 2 ]] || { cat err.txt; fail "both ranks must report the error"; }

# ---- bad data: exit 3 naming the file ----
expect 3 "$BIN/strata-train" "$CFG" "${TINY[@]}" --data.train=missing.h5;  contains err.txt "missing.h5"
head -c 3000 shards/train_000000.h5 > truncated.h5
expect 3 "$BIN/strata-train" "$CFG" "${TINY[@]}" --data.train=truncated.h5; contains err.txt "truncated.h5"
expect 3 "$BIN/strata-train" "$CFG" "${TINY[@]}" --model.vocab_size=100;  contains err.txt "vocab"
expect 3 "$BIN/strata-train" "$CFG" "${TINY[@]}" --model.seq_len=100000 --data.valid=; contains err.txt "model.seq_len"
echo "train_cli: all checks passed"
