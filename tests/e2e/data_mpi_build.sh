#!/usr/bin/env bash
# data_mpi_build.sh — `mpirun -np 3 strata-data build` writes the same shards as one process (byte and
# BPE tokenizers, BPE trained or loaded, several tokenizing rounds), and a failure on any rank ends
# every rank with the same exit code instead of a hang, each rank returning it (no job abort).
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-data}/strata-data"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

mpi() { local n="$1"; shift; timeout 120 "$MPIEXEC" -np "$n" "$@"; }

# Everything in a shard directory that must not depend on the number of ranks: the shard names, and
# each shard's tokens, document offsets and attributes.
dump_shards() {
  (cd "$1" && ls train_*.h5 valid_*.h5 &&
    for f in train_*.h5 valid_*.h5; do
      if command -v h5dump > /dev/null; then
        h5dump -d /tokens -d /doc_offsets -a vocab_size -a eos_id "$f" | tail -n +2
      else
        "$BIN" inspect --tokens 100000000 "$f" | tail -n +2
      fi
    done)
}
same_shards() {
  diff <(dump_shards "$1") <(dump_shards "$2") > /dev/null || fail "shards in $1 and $2 differ"
}

# A corpus of 300 documents of varied sizes and scripts, in two files.
mkdir corpus
for i in $(seq 1 240); do
  printf 'Document %d: the quick brown fox, number %d, jumps over %d lazy dogs.\n' "$i" "$((i * 7919 % 1000))" "$i"
  for j in $(seq 0 $((i % 9))); do printf "Line %d of %d — café, naïve, 日本語, it's fine.\n" "$j" "$i"; done
  printf '%%\n'
done > corpus/a.txt
for i in $(seq 1 60); do printf 'Second file, paragraph %d. Ελληνικά και Русский.\n%%\n' "$i"; done > corpus/b.txt
# Small shards (documents cross shard ends) and small rounds (many gathers), as in a large build.
opts=(--split delimiter --valid-fraction 0.1 --shard-tokens 3000 --seed 5)
common=("${opts[@]}" --block-bytes 2000)

# ---- byte tokenizer ----
expect 0 "$BIN" build "${common[@]}" --out byte1 corpus
contains out.txt "300 documents"
expect 0 mpi 3 "$BIN" build "${common[@]}" --out byte3 corpus
contains out.txt "300 documents"
[[ $(grep -c "strata-data build:" out.txt) == 1 ]] || fail "only rank 0 prints the summary"
[[ -s err.txt ]] && { cat err.txt; fail "a small build writes nothing to stderr"; }
[[ $(ls byte1/train_*.h5 | wc -l) -ge 3 ]] || fail "expected several train shards"
same_shards byte1 byte3
expect 0 mpi 2 "$BIN" build "${opts[@]}" --out byte2 corpus  # one round
same_shards byte1 byte2

# ---- BPE trained on the input: the same vocabulary and shards ----
expect 0 "$BIN" build "${common[@]}" --tokenizer bpe --vocab-size 400 --out bpe1 corpus
contains out.txt "trained BPE"
contains out.txt "tokenizer bpe (vocab_size 400, eos_id 399)"
expect 0 mpi 3 "$BIN" build "${common[@]}" --tokenizer bpe --vocab-size 400 --out bpe3 corpus
contains out.txt "vocab_size 400"
cmp bpe1/vocab.json bpe3/vocab.json || fail "vocab.json differs between 1 and 3 ranks"
cmp bpe1/merges.txt bpe3/merges.txt || fail "merges.txt differs between 1 and 3 ranks"
same_shards bpe1 bpe3
expect 0 "$BIN" inspect bpe1/train_000000.h5
contains out.txt "vocab_size:  400"
contains out.txt "eos_id:      399"
expect 0 "$BIN" verify bpe3;   contains out.txt "vocab_size 400"

# ---- BPE loaded from the files just written ----
expect 0 mpi 3 "$BIN" build "${common[@]}" --tokenizer bpe --vocab bpe1/vocab.json --merges bpe1/merges.txt \
  --out bpe_loaded corpus
same_shards bpe1 bpe_loaded

# ---- failures end every rank with one exit code ----
expect 3 mpi 3 "$BIN" build --out missing no_such_dir/
contains err.txt "no_such_dir"
expect 2 mpi 3 "$BIN" build --tokenizer bpe --out o corpus
contains err.txt "--vocab-size"
expect 2 mpi 3 "$BIN" build --out byte3 corpus;           contains err.txt "--overwrite"
# A vocabulary without the byte 'z': only the rank that tokenizes the one document holding a 'z'
# fails; the others learn it at the next agreement.
printf '{"a": 0, "b": 1, "\\u0120": 2, "\\u010a": 3, "ab": 4}' > small_vocab.json
printf '#version: 0.2\na b\n' > small_merges.txt
mkdir zcorpus
{ for i in $(seq 1 20); do printf 'ab ab\n%%\n'; done; printf 'ab z\n%%\n'; for i in $(seq 1 20); do printf 'ba\n%%\n'; done; } \
  > zcorpus/z.txt
expect 3 mpi 3 "$BIN" build --tokenizer bpe --vocab small_vocab.json --merges small_merges.txt --out zout zcorpus
contains err.txt "no token for byte 0x7a"
# Count occurrences, not lines: mpirun may join two ranks' lines of stderr into one.
[[ $(grep -o "error:" err.txt | wc -l) == 3 ]] || { cat err.txt; fail "every rank reports the error"; }
# Agreed errors end every rank normally: no rank aborts the job (parallel/abort_lone_failure.h).
! grep -q "aborting the job" err.txt || { cat err.txt; fail "a rank aborted the job on an agreed error"; }

echo "data_mpi_build: all checks passed"
