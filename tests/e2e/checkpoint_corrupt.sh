#!/usr/bin/env bash
# checkpoint_corrupt.sh — bad checkpoints are detected on load, on every rank, without a hang: a flipped
# byte in a dataset (checksum mismatch naming the file and dataset), a truncated state.h5, a missing
# state.h5, a model shape that does not match the checkpoint, a path that is no checkpoint: exit 3 with a
# message on both ranks. With checkpoint.load=auto a corrupt latest checkpoint is reported and the
# previous good one is used (same losses as the uninterrupted run), also when latest names a missing
# directory.
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
train() { timeout 240 "$MPIEXEC" -np 2 "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${ARGS[@]}" "$@"; }
losses() { grep -o '"loss":[0-9.e+-]*,.*"step":[0-9]*' "$1" | sed 's/,"lr.*"step":/ /' | awk '$NF > 5'; }
# Both ranks report the error (mpiexec may join their lines: count occurrences, not lines).
both_ranks() {
  for r in 0 1; do grep -qF "strata-train: rank $r: error:" err.txt || { cat err.txt; fail "rank $r reported no error"; }; done
  contains err.txt "$1"
}
fresh() { rm -rf ck; cp -r good ck; }

expect 0 train --checkpoint.dir=good --checkpoint.interval=5 --log.metrics=full.jsonl
STATE=ck/step_00000010/state.h5
DSET=/params/h.0.mlp.c_fc.weight

# A flipped byte in the middle of a dataset's data.
fresh
offset=$(h5dump -p -H -d "$DSET" "$STATE" | sed -n 's/ *OFFSET \([0-9]*\)/\1/p')
[[ -n "$offset" ]] || fail "no offset for $DSET"
pos=$((offset + 1000))
byte=$(od -An -tu1 -j "$pos" -N1 "$STATE" | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 0x10 )))" | dd of="$STATE" bs=1 seek="$pos" conv=notrunc status=none
expect 3 train --checkpoint.load=ck/step_00000010
both_ranks "$STATE: dataset params/h.0.mlp.c_fc.weight: checksum mismatch"
# ... with auto: reported, and the previous checkpoint is used.
expect 0 train --checkpoint.dir=ck --checkpoint.load=auto --log.metrics=fallback.jsonl
contains err.txt "checkpoint ck/step_00000010 is unusable"
contains err.txt "checksum mismatch"
contains out.txt "resumed from checkpoint ck/step_00000005: step 5"
diff <(losses full.jsonl) <(losses fallback.jsonl) || fail "the fallback run's losses differ"

# A truncated file.
fresh
truncate -s $(( $(stat -c %s "$STATE") / 2 )) "$STATE"
expect 3 train --checkpoint.load=ck/step_00000010
both_ranks "$STATE: cannot open the checkpoint (truncated or not HDF5?)"

# A missing file.
fresh
rm "$STATE"
expect 3 train --checkpoint.load=ck/step_00000010
both_ranks "ck/step_00000010"
expect 0 train --checkpoint.dir=ck --checkpoint.load=auto --log.metrics=missing.jsonl
contains out.txt "resumed from checkpoint ck/step_00000005: step 5"

# latest naming a directory that is gone: auto falls back to the newest step directory before it.
fresh
rm -rf ck/step_00000010
expect 0 train --checkpoint.dir=ck --checkpoint.load=auto --log.metrics=gone.jsonl
contains err.txt "names step_00000010, which is missing"
contains out.txt "resumed from checkpoint ck/step_00000005: step 5"

# A model that does not match the checkpoint's shapes.
fresh
expect 3 train --checkpoint.load=ck/step_00000010 --model.hidden=64
both_ranks "$STATE: dataset params/wte.weight has shape (257, 32), the configured model needs (257, 64)"

# Not a checkpoint at all.
expect 3 train --checkpoint.load=shards
both_ranks "no checkpoint at shards"
echo "checkpoint_corrupt: every corruption is detected on every rank"
