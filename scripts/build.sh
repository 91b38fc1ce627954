#!/usr/bin/env bash
# Configures and builds Strata into ./build (Release). Extra arguments go to cmake's configure step,
# e.g. scripts/build.sh -DSTRATA_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -60 build.log; exit 1; }
echo "build: ok (log in build.log)"
