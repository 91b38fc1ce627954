#!/usr/bin/env bash
# plan_cli.sh — strata-plan and strata-train --dry-run from the shell: the shipped GPT-3 configurations
# planned and dry-run at 1024 and 4096 ranks (175B fits in 80 GB by both), exact parameter counts,
# invalid and non-fitting layouts (exit 2 with the reason), --search on 1024 H100s sorted by predicted
# throughput with every layout fitting, and --calibrate against a measured 8-rank CPU run (bytes per group
# exact).
set -euo pipefail

BIN="${STRATA_BIN:?STRATA_BIN must name the directory holding strata-plan}"
SRC="${STRATA_SOURCE_DIR:?}"
MPIEXEC="${MPIEXEC:-mpiexec}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # WORK (cwd), fail, expect, contains
C175="$SRC/configs/gpt3-175b.ini"

# ---- help and the shipped configurations ----
expect 0 "$BIN/strata-plan" --help;  contains out.txt "--search"; contains out.txt "--calibrate"; contains out.txt "model.layers"
expect 0 "$BIN/strata-plan" "$C175" --gpus 1024
contains out.txt "parameters: 174,615,846,912 (174,604,259,328 without the 943 padding rows of wte)"
contains out.txt "tensor 8 x pipeline 16 x data 8"
contains out.txt ": fits"
contains out.txt "MFU"
contains out.txt "GPU-hours"
expect 0 "$BIN/strata-plan" "$C175" --gpus 1024 --hardware a100-80gb; contains out.txt ": fits"
for cfg_gpus in gpt3-1.3b:64 gpt3-13b:256; do  # the layouts their comments name
  expect 0 "$BIN/strata-plan" "$SRC/configs/${cfg_gpus%:*}.ini" --gpus "${cfg_gpus#*:}" --hardware a100-80gb
  contains out.txt ": fits"
done
expect 0 "$BIN/strata-plan" "$SRC/configs/gpt2-124m.ini"
contains out.txt "parameters: 124,475,904 (124,439,808 without the 47 padding rows of wte)"
expect 0 "$BIN/strata-plan" "$C175" --gpus 1024 --json
grep -q '"fits": true' out.txt || fail "--json: fits"
grep -q '"parameters": 174615846912' out.txt || fail "--json: parameters"

# ---- invalid layouts and layouts that do not fit: exit 2 with the reason ----
expect 2 "$BIN/strata-plan" "$C175" --gpus 1000;               contains err.txt "parallel.tensor"
expect 2 "$BIN/strata-plan" "$C175" --gpus 1280 --parallel.tensor=5; contains err.txt "model.heads"
expect 2 "$BIN/strata-plan" "$C175" --gpus 1280 --parallel.pipeline=5; contains err.txt "model.layers"
expect 2 "$BIN/strata-plan" "$C175" --gpus 1024 --train.global_batch=100; contains err.txt "train.global_batch"
expect 2 "$BIN/strata-plan" "$C175" --gpus 1024 --parallel.virtual_stages=2 --train.global_batch=1544
contains err.txt "parallel.virtual_stages"; contains err.txt "multiple of parallel.pipeline"
expect 2 "$BIN/strata-plan" "$C175" --gpus 1024 --hardware tpu;  contains err.txt "a100-80gb"
expect 2 "$BIN/strata-plan" "$C175" --gpus 64 --parallel.pipeline=1 --hardware a100-80gb
contains out.txt "DOES NOT FIT"; contains err.txt "does not fit"

# ---- search: 1024 H100s, sorted by predicted tokens/s, every layout fits ----
expect 0 "$BIN/strata-plan" "$C175" --gpus 1024 --search --top 10; contains out.txt "valid layouts"
[[ $(grep -cE '^ +[0-9]+ +[0-9]+ ' out.txt) == 10 ]] || { cat out.txt; fail "expected 10 ranked rows"; }
expect 0 "$BIN/strata-plan" "$C175" --gpus 1024 --search --top 0 --json
grep -o '"tokens_per_s": [0-9.e+]*' out.txt | awk '{print $2}' > tps.txt
[[ $(wc -l < tps.txt) -gt 10 ]] || fail "--search --json listed too few layouts"
sort -g -r -c tps.txt || fail "--search is not sorted by predicted tokens/s"
[[ $(grep -c '"fits": true' out.txt) == $(wc -l < tps.txt) ]] || fail "--search listed a layout that does not fit"
! grep -q '"fits": false' out.txt || fail "--search listed a layout that does not fit"

# ---- strata-train --dry-run: no MPI, 1024 and 4096 ranks ----
expect 0 "$BIN/strata-train" --dry-run "$C175" --world-size 1024
contains out.txt "1024 ranks = tensor 8 x pipeline 16 x data 8"; contains out.txt ": fits"
contains out.txt "0 (0,0,0): 0-5+emb | "
contains out.txt "1023 (7,7,15): 90-95+head | "
[[ $(grep -cE '^[0-9]+ \(' out.txt) == 1024 ]] || fail "dry run must list 1024 ranks"
expect 0 "$BIN/strata-train" --dry-run "$C175" --world-size 4096
[[ $(grep -cE '^[0-9]+ \(' out.txt) == 4096 ]] || fail "dry run must list 4096 ranks"
expect 2 "$BIN/strata-train" --dry-run "$C175" --world-size 1000;  contains err.txt "parallel.tensor"
expect 2 "$BIN/strata-train" --dry-run "$C175" --world-size 64 --parallel.pipeline=1 --hardware a100-80gb
contains out.txt "DOES NOT FIT"; contains err.txt "does not fit"
expect 2 "$BIN/strata-train" --dry-run "$C175";  contains err.txt "--world-size"

# ---- calibration: a measured 8-rank CPU run (tensor 2 x pipeline 2 x data 2, ZeRO-1) against the prediction ----
for i in $(seq 1 200); do echo "document $i: the cat sat on the mat and the dog sat on the log."; echo "%"; done > corpus.txt
"$BIN/strata-data" build --tokenizer byte --split delimiter --delimiter % --out shards corpus.txt > /dev/null
RUN=(--train.steps=6 --train.log_interval=1 --train.global_batch=8 --train.micro_batch=2 --parallel.zero_stage=1
     --parallel.tensor=2 --parallel.pipeline=2 --data.train=shards/train_*.h5 --data.valid=)
expect 0 timeout 300 "$MPIEXEC" -np 8 --bind-to none "$BIN/strata-train" "$SRC/configs/gpt-tiny.ini" "${RUN[@]}" \
  --log.metrics=metrics.jsonl
expect 0 "$BIN/strata-plan" "$SRC/configs/gpt-tiny.ini" "${RUN[@]}" --gpus 8 --hardware cpu --calibrate metrics.jsonl
contains out.txt "calibration against 5 measured steps"
contains out.txt "compute matches the measured run with --gemm-efficiency"
for c in "step time" "compute + bubble" "exposed gradient reduction" "blocked in communication" "tokens/s" "MFU"; do
  contains out.txt "$c"
done
# Bytes per group are closed form: the prediction must be the communicator's count on rank 0.
for g in data tensor pipeline embedding; do
  err=$(grep "$g-group bytes per step" out.txt | awk '{print $(NF)}' | tr -d '%+-')
  [[ -n "$err" ]] || { cat out.txt; fail "no $g-group bytes row"; }
  awk -v e="$err" 'BEGIN { exit !(e < 0.1) }' || { cat out.txt; fail "$g-group bytes must match: $err%"; }
done
expect 0 "$BIN/strata-plan" "$SRC/configs/gpt-tiny.ini" "${RUN[@]}" --gpus 8 --hardware cpu --calibrate metrics.jsonl --json
contains out.txt '"calibration"'; contains out.txt '"fitted_gemm_efficiency"'
echo '{"step": 1}' > bad.jsonl
expect 3 "$BIN/strata-plan" "$SRC/configs/gpt-tiny.ini" --gpus 1 --hardware cpu --calibrate bad.jsonl
contains err.txt "bad.jsonl"
expect 3 "$BIN/strata-plan" "$SRC/configs/gpt-tiny.ini" --gpus 1 --hardware cpu --calibrate missing.jsonl
contains err.txt "missing.jsonl"
echo "plan_cli: ok"
