#!/usr/bin/env bash
# Quick start, command (1): install what is missing, build, make the default dataset from Debian's
# fortunes (documents separated by '%' lines, byte tokenizer), and train configs/gpt-tiny.ini on it on
# 8 MPI ranks: tensor 2 x pipeline 2 x data 2 with ZeRO-1 (any layout gives the single-rank losses),
# saving the final checkpoint to runs/gpt-tiny/checkpoints; then print a sample of text generated from
# it. STRATA_RANKS=1 trains on one rank instead. Extra arguments go to strata-train.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
if [ ! -f data/fortunes/valid_000000.h5 ]; then
  ./build/src/strata-data build --tokenizer byte --split delimiter --delimiter % --valid-fraction 0.05 \
    --out data/fortunes /usr/share/games/fortunes
fi
# Passive OpenMP waiting costs ~nothing on an idle machine and avoids a many-fold slowdown when other
# work shares the cores (spinning threads steal them from the threads doing the work).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
mkdir -p runs/gpt-tiny
rm -rf runs/gpt-tiny/metrics.jsonl runs/gpt-tiny/checkpoints
ckpt=(--checkpoint.dir=runs/gpt-tiny/checkpoints)
if [ "${STRATA_RANKS:-8}" = 1 ]; then
  ./build/src/strata-train configs/gpt-tiny.ini "${ckpt[@]}" "$@"
else
  # Root may run Open MPI only when it says so; more ranks than cores need --oversubscribe.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mpirun --oversubscribe -np 8 ./build/src/strata-train configs/gpt-tiny.ini \
    --parallel.tensor=2 --parallel.pipeline=2 --parallel.zero_stage=1 --train.micro_batch=4 "${ckpt[@]}" "$@"
fi
first=$(head -n1 runs/gpt-tiny/metrics.jsonl | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(tail -n1 runs/gpt-tiny/metrics.jsonl | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
echo "quickstart: training loss went from $first to $last (metrics: runs/gpt-tiny/metrics.jsonl)"
echo "quickstart: a sample from the checkpoint (strata-ckpt sample runs/gpt-tiny/checkpoints):"
./build/src/strata-ckpt sample runs/gpt-tiny/checkpoints --prompt "Q: " --tokens 200 --temperature 0.8 --top-k 40 --seed 1
