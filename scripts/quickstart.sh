#!/usr/bin/env bash
# Quick start, command (1): install what is missing, build, make the default dataset from Debian's
# fortunes (documents separated by '%' lines, byte tokenizer), and train configs/gpt-tiny.ini on it.
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
rm -f runs/gpt-tiny/metrics.jsonl
./build/src/strata-train configs/gpt-tiny.ini "$@"
first=$(head -n1 runs/gpt-tiny/metrics.jsonl | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(tail -n1 runs/gpt-tiny/metrics.jsonl | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
echo "quickstart: training loss went from $first to $last (metrics: runs/gpt-tiny/metrics.jsonl)"
