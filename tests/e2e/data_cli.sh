#!/usr/bin/env bash
# data_cli.sh — strata-data from the shell: build / inspect / verify outputs, and exit codes
# 0 (success), 2 (usage) and 3 (bad input data) as SPEC section 3 promises.
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-data}/strata-data"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

# ---- help and usage errors (exit 2) ----
expect 0 "$BIN" --help;                contains out.txt "build"
for cmd in build inspect verify; do
  expect 0 "$BIN" "$cmd" --help;       contains out.txt "usage: strata-data $cmd"
done
expect 2 "$BIN";                       contains err.txt "missing command"
expect 2 "$BIN" frobnicate;            contains err.txt "unknown command 'frobnicate'"
expect 2 "$BIN" build --no-such-option --out o x.txt; contains err.txt "no-such-option"
expect 2 "$BIN" build x.txt;           contains err.txt "--out"
expect 2 "$BIN" build --out o;         contains err.txt "missing inputs"
expect 2 "$BIN" build --out o --shard-tokens;  contains err.txt "shard-tokens"
expect 2 "$BIN" inspect;               contains err.txt "missing files"
expect 2 "$BIN" verify;                contains err.txt "missing paths"

# ---- a small corpus ----
mkdir -p corpus/more
for i in $(seq 1 40); do
  printf 'Fortune number %d:\nThe early bird gets the worm, said line %d.\n%%\n' "$i" "$i"
done > corpus/a.txt
printf 'Last words of the corpus.\n' > corpus/more/b.txt
printf 'binary index, skipped' > corpus/a.txt.dat
ln -s a.txt corpus/a.txt.u8   # fortune-style symlink to a file already included

expect 2 "$BIN" build --tokenizer gpt9 --out o corpus; contains err.txt "unknown tokenizer 'gpt9'"
expect 2 "$BIN" build --split sentences --out o corpus;           contains err.txt "unknown split rule"
expect 2 "$BIN" build --valid-fraction 2 --out o corpus;         contains err.txt "valid-fraction"

expect 0 "$BIN" build --tokenizer byte --split delimiter --delimiter % --valid-fraction 0.1 \
  --shard-tokens 1000 --seed 3 --out shards corpus
contains out.txt "2 input file(s), 41 documents"
contains out.txt "train:"
contains out.txt "valid:"
[[ -f shards/train_000000.h5 && -f shards/train_000001.h5 && -f shards/valid_000000.h5 ]] ||
  { ls shards; fail "missing shards"; }
ls shards/*.tmp 2>/dev/null && fail "temporary files left behind"

expect 0 "$BIN" inspect shards/train_000000.h5
contains out.txt "tokens:      1000"
contains out.txt "vocab_size:  257"
contains out.txt "dtype:       uint16"
contains out.txt "eos_id:      256"
contains out.txt "first 64 tokens:"
contains out.txt "decoded (byte tokenizer"

expect 0 "$BIN" verify shards;                     contains out.txt "OK"
expect 0 "$BIN" verify 'shards/train_*.h5';        contains out.txt "OK"

# Rebuilding into the same directory needs --overwrite; the result is deterministic.
cp shards/train_000000.h5 first_build.h5
expect 2 "$BIN" build --shard-tokens 1000 --seed 3 --valid-fraction 0.1 --out shards corpus
contains err.txt "--overwrite"
expect 0 "$BIN" build --shard-tokens 1000 --seed 3 --valid-fraction 0.1 --overwrite --out shards corpus
expect 0 "$BIN" inspect --tokens 2000 first_build.h5;            mv out.txt first.txt
expect 0 "$BIN" inspect --tokens 2000 shards/train_000000.h5
diff <(tail -n +2 first.txt) <(tail -n +2 out.txt) > /dev/null || fail "rebuild with the same seed differs"

# The other split rules.
printf 'para one\nstill one\n\n\npara two\n' > blank.txt
expect 0 "$BIN" build --split blank --valid-fraction 0 --out blank blank.txt
contains out.txt "2 documents"
expect 0 "$BIN" build --split file --valid-fraction 0.5 --out perfile corpus
contains out.txt "2 documents"
[[ -f perfile/train_000000.h5 && -f perfile/valid_000000.h5 ]] || fail "2 documents must fill both splits"

# Another physical layout of the same tokens (chunked + gzip) reads identically.
if command -v h5repack > /dev/null; then
  h5repack -f /tokens:GZIP=6 -l /tokens:CHUNK=100 shards/train_000000.h5 repacked.h5
  expect 0 "$BIN" inspect --tokens 2000 repacked.h5;   contains out.txt "deflate"
  grep "^first " out.txt > repacked.txt
  expect 0 "$BIN" inspect --tokens 2000 shards/train_000000.h5
  grep "^first " out.txt | diff - repacked.txt > /dev/null || fail "repacked shard reads differently"
  expect 0 "$BIN" verify repacked.h5;                  contains out.txt "OK"
fi

# ---- bad input data (exit 3) ----
expect 3 "$BIN" build --out o no_such_file.txt;       contains err.txt "no_such_file.txt"
: > empty.txt
expect 3 "$BIN" build --out o empty.txt;              contains err.txt "no documents"
expect 3 "$BIN" inspect no_such_shard.h5;             contains err.txt "no_such_shard.h5"
head -c 4096 /dev/urandom > random.h5
expect 3 "$BIN" verify random.h5;                     contains err.txt "random.h5: not an HDF5 file"
expect 3 "$BIN" inspect random.h5;                    contains err.txt "random.h5"
head -c 2000 shards/train_000000.h5 > truncated.h5
expect 3 "$BIN" verify truncated.h5;                  contains err.txt "truncated.h5"
mkdir -p nodata
expect 3 "$BIN" verify nodata;                        contains err.txt "contains no *.h5"
expect 0 "$BIN" build --valid-fraction 0 --out other corpus/more/b.txt
cp other/train_000000.h5 shards/zz_other.h5         # same vocabulary: still fine
expect 0 "$BIN" verify shards
expect 3 "$BIN" verify shards/train_000000.h5 random.h5; contains err.txt "random.h5"

# A BPE build writes its vocabulary next to the shards, and inspect decodes with it.
expect 0 "$BIN" build --tokenizer bpe --vocab-size 300 --valid-fraction 0 --out bpe corpus/a.txt
[[ -f bpe/vocab.json && -f bpe/merges.txt ]] || fail "bpe build did not write vocab.json and merges.txt"
expect 0 "$BIN" inspect --tokens 12 bpe/train_000000.h5; contains out.txt "decoded (bpe tokenizer"
expect 0 "$BIN" verify bpe;                          contains out.txt "vocab_size 300"

# Debian's fortunes, when installed: the corpus this layer was first written for.
if [[ -d /usr/share/games/fortunes ]]; then
  expect 0 "$BIN" build --shard-tokens 1000000 --out fortunes /usr/share/games/fortunes
  contains out.txt "documents"
  expect 0 "$BIN" verify fortunes;                    contains out.txt "OK"
fi

echo "data_cli: all checks passed"
