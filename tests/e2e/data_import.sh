#!/usr/bin/env bash
# data_import.sh — `strata-data import` from the shell: llm.c, Megatron-LM, raw and .npy inputs written
# here with python3 (struct only, no numpy) become shards that `inspect` and `verify` accept; exit codes
# 0 (success), 2 (usage) and 3 (bad input data) as SPEC section 3 promises; a failed import leaves no shards.
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-data}/strata-data"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

# no_shards DIR: DIR holds no file at all (hidden staging directories included), or does not exist.
no_shards() { [[ ! -d "$1" || -z "$(ls -A "$1")" ]] || { ls -laR "$1"; fail "$1 is not empty"; }; }

# ---- inputs, byte by byte as the real writers lay them out ----
python3 - <<'EOF'
import struct

def llmc(path, tokens, magic=20240520, version=1, fmt="H", cut=0):
    data = struct.pack("<256i", magic, version, len(tokens), *([0] * 253))
    data += struct.pack("<%d%s" % (len(tokens), fmt), *tokens)
    open(path, "wb").write(data[:len(data) - cut])

# llm.c: <|endoftext|> 50256 before each document; the first file starts mid-document.
llmc("fineweb_000000.bin", [11, 12, 50256, 1, 2, 3, 50256, 4, 5])
llmc("fineweb_000001.bin", [6, 7, 50256, 8, 9, 10, 11])
llmc("bad_magic.bin", [1, 2], magic=12345)
llmc("bad_version.bin", [1, 2], version=3)
llmc("truncated.bin", [1, 2, 3, 4], cut=3)
llmc("big_token.bin", [1, 2, 50300])

def megatron(prefix, docs, code=4, fmt="i", pointers=None):
    # megatron/core/datasets/indexed_dataset.py _IndexWriter: header, lengths, pointers, document indices
    seqs = [s for d in docs for s in d]
    doc_idx = [0]
    for d in docs:
        doc_idx.append(doc_idx[-1] + len(d))
    size = struct.calcsize("<" + fmt)
    ptrs, p = [], 0
    with open(prefix + ".bin", "wb") as f:
        for s in seqs:
            ptrs.append(p)
            f.write(struct.pack("<%d%s" % (len(s), fmt), *s))
            p += len(s) * size
    ptrs = pointers or ptrs
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", code))
        f.write(struct.pack("<QQ", len(seqs), len(doc_idx)))
        f.write(struct.pack("<%di" % len(seqs), *[len(s) for s in seqs]))
        f.write(struct.pack("<%dq" % len(seqs), *ptrs))
        f.write(struct.pack("<%dq" % len(doc_idx), *doc_idx))

megatron("corpus_text_document", [[[1, 2, 3, 0]], [[4, 5, 0]], [[6], [7, 8, 0]]], code=8, fmt="H")
megatron("bad_pointer", [[[1, 2]], [[3]]], pointers=[0, 400])

def npy(path, descr, shape, values, fmt):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))

npy("tokens.npy", "<i4", "(10,)", [3, 1, 4, 0, 1, 5, 9, 0, 2, 6], "i")
npy("matrix.npy", "<u2", "(2, 2)", [1, 2, 3, 4], "H")
npy("floats.npy", "<f4", "(2,)", [1.0, 2.0], "f")

open("tokens.u32", "wb").write(struct.pack("<6I", 100000, 5, 0, 7, 8, 0))
open("odd.u32", "wb").write(struct.pack("<5H", 1, 2, 3, 4, 5))
open("empty.u16", "wb").close()
EOF

# ---- help and usage errors (exit 2) ----
expect 0 "$BIN" --help;                      contains out.txt "import"
expect 0 "$BIN" import --help;               contains out.txt "usage: strata-data import"
contains out.txt "--shard-tokens"
expect 2 "$BIN" import --out o fineweb_000000.bin;                   contains err.txt "format"
expect 2 "$BIN" import --format hf --out o x;                        contains err.txt "unknown import format 'hf'"
expect 2 "$BIN" import --format llmc fineweb_000000.bin;             contains err.txt "--out"
expect 2 "$BIN" import --format llmc --out o;                        contains err.txt "missing inputs"
expect 2 "$BIN" import --format raw --vocab-size 10 --out o tokens.u32;   contains err.txt "--dtype is required"
expect 2 "$BIN" import --format raw --dtype int7 --vocab-size 10 --out o tokens.u32; contains err.txt "uint16 or uint32"
expect 2 "$BIN" import --format npy --out o tokens.npy;              contains err.txt "--vocab-size is required"
expect 2 "$BIN" import --format llmc --dtype uint16 --out o fineweb_000000.bin; contains err.txt "raw only"
expect 2 "$BIN" import --format llmc --eos-id 60000 --out o fineweb_000000.bin; contains err.txt "--eos-id"
expect 2 "$BIN" import --format llmc --shard-tokens 0 --out o fineweb_000000.bin; contains err.txt "shard-tokens"
no_shards o

# ---- llm.c ----
expect 0 "$BIN" import --format llmc --shard-tokens 10 --out llmc fineweb_000000.bin fineweb_000001.bin
contains out.txt "2 input file(s), llm.c gpt-2 (uint16)"
contains out.txt "16 tokens, 3 documents, vocab_size 50257, eos_id 50256"
contains out.txt "2 shard(s)"
[[ -f llmc/train_000000.h5 && -f llmc/train_000001.h5 ]] || { ls -la llmc; fail "missing llm.c shards"; }
[[ -z "$(ls -A llmc | grep -v '^train_00000[01].h5$')" ]] || { ls -la llmc; fail "stray files in llmc/"; }
expect 0 "$BIN" inspect llmc/train_000000.h5
contains out.txt "tokens:      10"
contains out.txt "documents:   2"
contains out.txt "vocab_size:  50257"
contains out.txt "dtype:       uint16"
contains out.txt "eos_id:      50256"
contains out.txt "first 10 tokens: 11 12 50256 1 2 3 50256 4 5 6"
expect 0 "$BIN" inspect llmc/train_000001.h5
contains out.txt "tokens:      6"
contains out.txt "documents:   1"
contains out.txt "first 6 tokens: 7 50256 8 9 10 11"
expect 0 "$BIN" verify llmc;                                  contains out.txt "OK: 2 shard(s), 16 tokens, vocab_size 50257"

# Importing again needs --overwrite; --name makes another set.
expect 2 "$BIN" import --format llmc --out llmc fineweb_000000.bin;  contains err.txt "--overwrite"
expect 0 "$BIN" import --format llmc --overwrite --out llmc fineweb_000000.bin
contains out.txt "1 shard(s): llmc/train_000000.h5"
[[ ! -e llmc/train_000001.h5 ]] || fail "--overwrite left an old shard behind"
expect 0 "$BIN" import --format llmc --name valid --out llmc fineweb_000001.bin
expect 0 "$BIN" verify 'llmc/valid_*.h5';                      contains out.txt "OK: 1 shard(s), 7 tokens"

# ---- bad llm.c files (exit 3), nothing written ----
expect 3 "$BIN" import --format llmc --out bad bad_magic.bin;   contains err.txt "bad_magic.bin"; contains err.txt "magic"
expect 3 "$BIN" import --format llmc --out bad bad_version.bin; contains err.txt "version 3"
expect 3 "$BIN" import --format llmc --out bad truncated.bin
contains err.txt "truncated.bin"; contains err.txt "1032 bytes, found 1029 bytes (truncated)"
expect 3 "$BIN" import --format llmc --out bad fineweb_000000.bin big_token.bin
contains err.txt "big_token.bin: token 2 (byte offset 1028) is 50300"
expect 3 "$BIN" import --format llmc --out bad missing.bin;     contains err.txt "missing.bin: input not found"
no_shards bad

# ---- Megatron-LM ----
expect 0 "$BIN" import --format megatron --vocab-size 50257 --eos-id 0 --out mega corpus_text_document
contains out.txt "Megatron-LM indexed dataset (uint16, 4 sequences, 3 documents)"
contains out.txt "11 tokens, 3 documents, vocab_size 50257, eos_id 0"
expect 0 "$BIN" inspect mega/train_000000.h5
contains out.txt "tokens:      11"
contains out.txt "documents:   3"
contains out.txt "eos_id:      0"
contains out.txt "first 11 tokens: 1 2 3 0 4 5 0 6 7 8 0"
expect 3 "$BIN" import --format megatron --vocab-size 100 --out bad bad_pointer.idx
contains err.txt "bad_pointer.idx: sequence 1"; contains err.txt "outside"
expect 3 "$BIN" import --format megatron --vocab-size 100 --out bad nothing_here
contains err.txt "nothing_here.bin: input not found"
no_shards bad

# ---- raw and .npy ----
expect 0 "$BIN" import --format raw --dtype uint32 --vocab-size 100001 --eos-id 0 --name raw --out arrays tokens.u32
contains out.txt "6 tokens, 2 documents, vocab_size 100001, eos_id 0"
expect 0 "$BIN" inspect arrays/raw_000000.h5
contains out.txt "dtype:       uint32"
contains out.txt "first 6 tokens: 100000 5 0 7 8 0"
expect 0 "$BIN" import --format npy --vocab-size 10 --eos-id 0 --shard-tokens 4 --name npy --out arrays tokens.npy
contains out.txt ".npy 1.0 '<i4' (int32)"
contains out.txt "10 tokens, 3 documents"
contains out.txt "3 shard(s)"
expect 0 "$BIN" inspect arrays/npy_000001.h5
contains out.txt "tokens:      4"
contains out.txt "first 4 tokens: 1 5 9 0"
expect 0 "$BIN" verify 'arrays/npy_*.h5';                       contains out.txt "OK: 3 shard(s), 10 tokens, vocab_size 10"

expect 3 "$BIN" import --format raw --dtype uint32 --vocab-size 10 --out bad tokens.u32
contains err.txt "tokens.u32: token 0 (byte offset 0) is 100000"
expect 3 "$BIN" import --format raw --dtype uint32 --vocab-size 10 --out bad odd.u32;  contains err.txt "multiple of 4"
expect 3 "$BIN" import --format raw --dtype uint16 --vocab-size 10 --out bad empty.u16; contains err.txt "no tokens"
expect 3 "$BIN" import --format npy --vocab-size 10 --out bad matrix.npy;   contains err.txt "shape (2, 2)"
expect 3 "$BIN" import --format npy --vocab-size 10 --out bad floats.npy;   contains err.txt "'<f4'"
expect 3 "$BIN" import --format npy --vocab-size 10 --out bad fineweb_000000.bin; contains err.txt "not a .npy file"
no_shards bad

echo "data_import: all checks passed"
