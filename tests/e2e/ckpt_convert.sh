#!/usr/bin/env bash
# ckpt_convert.sh — strata-ckpt as a user runs it: train gpt-tiny (shrunk) a few steps and save a
# checkpoint, inspect and verify it, export it to Hugging
# Face (model.safetensors + config.json) and llm.c, check the exported files' logits against an
# independent NumPy GPT-2 (tests/e2e/gpt2_numpy_logits.py) within 1e-4, import both back and check the
# round trips are exact (re-exports byte-identical, identical logits), train on from an imported
# checkpoint, sample text, and bad inputs (exit 2 usage, exit 3 bad checkpoint/input with the file named).
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-train}"
SRC="${STRATA_SOURCE_DIR:?}"
CKPT="$BIN/strata-ckpt"
NUMPY_GPT2="$SRC/tests/e2e/gpt2_numpy_logits.py"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains

# The Python with NumPy: python3 on PATH, or Debian's (python3-numpy, scripts/install-deps.sh) when a
# python3 of another installation comes first on PATH.
PYTHON=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import numpy' 2>/dev/null; then PYTHON="$p"; break; fi
done
[[ -n "$PYTHON" ]] || fail "python3 with numpy is needed (scripts/install-deps.sh installs python3-numpy)"

for i in $(seq 1 200); do
  echo "document $i says: the cat sat on the mat and the dog sat on the log."
  echo "%"
done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --split delimiter --delimiter % --valid-fraction 0.1 --out shards corpus.txt > /dev/null
# A large constant learning rate, so that after 10 steps every parameter (biases and LayerNorms too)
# is far from its initial value and a mixed-up tensor would show in the logits.
TINY=(--model.layers=2 --model.hidden=32 --model.heads=2 --model.seq_len=32 --train.micro_batch=4
      --train.global_batch=8 --optim.lr=2e-2 --optim.min_lr=2e-2 --optim.warmup_steps=0 --train.eval_interval=0
      --data.train=shards/train_*.h5 --data.valid=)
CFG="$SRC/configs/gpt-tiny.ini"
expect 0 "$BIN/strata-train" "$CFG" "${TINY[@]}" --train.steps=10 --checkpoint.dir=run --log.metrics=train.jsonl

# ---- help and usage errors ----
expect 0 "$CKPT" --help;                 contains out.txt "export"
for cmd in inspect verify export import sample logits; do
  expect 0 "$CKPT" "$cmd" --help;        contains out.txt "usage: strata-ckpt $cmd"
done
expect 2 "$CKPT";                        contains err.txt "missing command"
expect 2 "$CKPT" frobnicate;             contains err.txt "unknown command 'frobnicate'"
expect 2 "$CKPT" inspect;                contains err.txt "missing arguments"
expect 2 "$CKPT" export --format onnx run out;  contains err.txt "expected hf or llmc"
expect 2 "$CKPT" export run out;         contains err.txt "format"
expect 2 "$CKPT" verify --bogus run;     contains err.txt "bogus"

# ---- inspect, verify ----
expect 0 "$CKPT" inspect run --tensors
contains out.txt "step:        10"
contains out.txt "2 layers, hidden 32, heads 2, seq_len 32, vocab_size 257"
contains out.txt "h.1.attn.c_attn.weight"
contains out.txt "(96, 32)"
expect 0 "$CKPT" verify run;             contains out.txt "OK: run/step_00000010"
expect 3 "$CKPT" verify nowhere;         contains err.txt "nowhere"

# ---- export, and the exported files against the NumPy reference ----
expect 0 "$CKPT" export --format hf run hf
[[ -f hf/model.safetensors && -f hf/config.json ]] || fail "export --format hf wrote no model.safetensors/config.json"
expect 0 "$CKPT" export --format llmc run model.bin
TOKENS=116,104,101,32,99,97,116,256,0,255,32,115,97,116
expect 0 "$CKPT" logits run --tokens "$TOKENS"
cp out.txt strata_logits.txt
[[ $(wc -l < strata_logits.txt) == 14 ]] || fail "logits: expected 14 lines"
expect 0 "$PYTHON" "$NUMPY_GPT2" --hf hf --tokens "$TOKENS" --compare strata_logits.txt;  cat out.txt
expect 0 "$PYTHON" "$NUMPY_GPT2" --llmc model.bin --tokens "$TOKENS" --compare strata_logits.txt;  cat out.txt
# The comparison is sensitive: other tokens' logits do not pass.
expect 1 "$PYTHON" "$NUMPY_GPT2" --hf hf --tokens "${TOKENS/116/117}" --compare strata_logits.txt

# ---- import back: exact round trips ----
expect 0 "$CKPT" import --format hf hf from_hf
contains out.txt "from_hf/step_00000000"
expect 0 "$CKPT" import --format llmc model.bin from_llmc
for dir in from_hf from_llmc; do
  expect 0 "$CKPT" verify "$dir"
  expect 0 "$CKPT" export --format llmc "$dir" "$dir.bin"
  cmp model.bin "$dir.bin" || fail "Strata -> $dir -> Strata changed the parameters (llm.c re-export differs)"
  expect 0 "$CKPT" export --format hf "$dir" "$dir.hf"
  cmp hf/model.safetensors "$dir.hf/model.safetensors" || fail "$dir: hf re-export differs"
  expect 0 "$CKPT" logits "$dir" --tokens "$TOKENS"
  cmp out.txt strata_logits.txt || fail "$dir: logits differ from the original checkpoint's"
done

# Training starts from an imported checkpoint: step 0 with the imported weights, so the first loss is
# the exported model's loss, far below the ~5.5 of a fresh model.
expect 0 "$BIN/strata-train" "$CFG" "${TINY[@]}" --train.steps=2 --checkpoint.dir=from_hf --checkpoint.load=auto \
  --log.metrics=resumed.jsonl
first=$(head -n1 resumed.jsonl | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
awk -v a="$first" 'BEGIN { exit !(a < 4.0) }' || fail "training from the imported checkpoint starts at loss $first"
[[ -d from_hf/step_00000002 ]] || fail "training from the imported checkpoint saved no step 2"

# --config: the run's configuration, its model keys checked against the weights.
sed -e 's/^layers = 4/layers = 2/' -e 's/^hidden = 128/hidden = 32/' -e 's/^heads = 4/heads = 2/' \
    -e 's/^seq_len = 128/seq_len = 16/' -e 's|^train = .*|train = shards/train_*.h5|' \
    -e 's|^valid = .*|valid = shards/valid_*.h5|' "$CFG" > run16.ini
expect 0 "$CKPT" import --format llmc --config run16.ini model.bin short
expect 0 "$CKPT" inspect short --config
contains out.txt "seq_len 16"
contains out.txt "seq_len = 16"
sed 's/^layers = 2/layers = 3/' run16.ini > layers3.ini
expect 2 "$CKPT" import --format llmc --config layers3.ini model.bin bad_layers;  contains err.txt "model.layers 3"
sed 's/^seq_len = 16/seq_len = 64/' run16.ini > seq64.ini
expect 2 "$CKPT" import --format llmc --config seq64.ini model.bin bad_seq;       contains err.txt "model.seq_len 64"
expect 2 "$CKPT" import --format llmc model.bin from_llmc;  contains err.txt "already holds checkpoints"

# ---- bad inputs: exit 3 naming the file ----
head -c 5000 model.bin > truncated.bin
expect 3 "$CKPT" import --format llmc truncated.bin t1;     contains err.txt "truncated.bin"; contains err.txt "truncated"
cp model.bin magic.bin
printf '\x01\x02\x03\x04' | dd of=magic.bin bs=1 count=4 conv=notrunc 2>/dev/null
expect 3 "$CKPT" import --format llmc magic.bin t2;         contains err.txt "magic.bin: magic"
mkdir -p badhf && cp hf/config.json badhf/
sed 's/"n_positions": 32/"n_positions": 33/' hf/config.json > badhf/config.json
cp hf/model.safetensors badhf/
expect 3 "$CKPT" import --format hf badhf t3;               contains err.txt "badhf/model.safetensors"
contains err.txt "'wpe.weight'"
head -c 3000 hf/model.safetensors > badhf/model.safetensors
expect 3 "$CKPT" import --format hf badhf t4;               contains err.txt "badhf/model.safetensors"
expect 3 "$CKPT" import --format hf nothing t5;             contains err.txt "nothing"
[[ ! -e t1 && ! -e t2 && ! -e t3 && ! -e t4 ]] || fail "a failed import left a checkpoint directory behind"

# A corrupted checkpoint: one flipped byte in the middle of the data.
cp -r run corrupt
state=corrupt/step_00000010/state.h5
size=$(stat -c %s "$state")
printf '\x5a' | dd of="$state" bs=1 seek=$((size * 3 / 4)) count=1 conv=notrunc 2>/dev/null
expect 3 "$CKPT" verify corrupt;                            contains err.txt "corrupt/step_00000010"

# ---- sample: deterministic for a seed, tokenizer from the training data ----
expect 0 "$CKPT" sample run --prompt "the cat" --tokens 30 --seed 5
head -c 7 out.txt | grep -q "the cat" || fail "sample does not start with the prompt"
cp out.txt sample1.txt
expect 0 "$CKPT" sample run --prompt "the cat" --tokens 30 --seed 5 --tokenizer byte
cmp out.txt sample1.txt || fail "the same seed gave a different sample"
expect 0 "$CKPT" sample run --prompt "the cat" --tokens 30 --temperature 0
expect 3 "$CKPT" sample run --tokenizer nowhere_dir;        contains err.txt "nowhere_dir"
# BPE data: export writes the vocabulary beside the model and its end-of-text id into config.json;
# sample encodes and decodes with it.
"$BIN/strata-data" build --tokenizer bpe --vocab-size 300 --split delimiter --delimiter % --valid-fraction 0.1 \
  --out bpe corpus.txt > /dev/null
expect 0 "$BIN/strata-train" "$CFG" "${TINY[@]}" --model.vocab_size=300 --data.train='bpe/train_*.h5' \
  --train.steps=2 --checkpoint.dir=run_bpe --log.metrics=bpe.jsonl
expect 0 "$CKPT" export --format hf run_bpe hf_bpe;        contains out.txt "tokenizer bpe"
cmp bpe/vocab.json hf_bpe/vocab.json && cmp bpe/merges.txt hf_bpe/merges.txt || fail "export did not copy the BPE files"
eos=$("$BIN/strata-data" inspect bpe/train_000000.h5 | sed -n 's/^eos_id: *//p')
contains hf_bpe/config.json "\"eos_token_id\": $eos"
expect 0 "$CKPT" sample run_bpe --prompt "the cat sat" --tokens 10;  contains out.txt "the cat sat"
grep -q '"eos_token_id": 256' hf/config.json || fail "byte-tokenizer export: eos_token_id is not 256"

mkdir elsewhere && cd elsewhere
expect 2 "$CKPT" sample ../run;                             contains err.txt "--tokenizer"
cd ..
echo "ckpt_convert: OK"
