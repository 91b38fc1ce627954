#!/usr/bin/env bash
# device-check.sh — the CUDA backend's check on a machine with one GPU, from a clean tree:
#   1. configure and build with CUDA for this GPU's architecture (Release, all cores);
#   2. run the CUDA tests: every kernel test's CUDA instantiation, device discovery, and fail if any of
#      them was skipped (a GPU is present, so none may be);
#   3. run the whole 2-rank NCCL suite, strata_nccl_tests (collectives in closed form; data parallelism
#      with ZeRO 0-3, tensor parallelism with and without sequence parallelism, 1F1B and interleaved
#      pipelines, fp32 and bf16, on the CUDA backend against the single-rank CUDA run; both ranks share
#      the GPU);
#   4. benchmark GPT 1.3B (24 layers, hidden 2048, 16 heads, seq 2048) on the GPU in train.precision=bf16
#      (cuBLASLt bf16 GEMMs and tensor-core attention with fp32 accumulation, bf16 activations, fp32 master weights,
#      residual stream and reductions) and print tokens/s and MFU against the bf16 dense peak of H100/H200, 989 TFLOP/s.
# Everything (log, test output, figures) goes to one folder: $1, default ./device-check-<time>.
# Budget: under 8 minutes (the build dominates; each stage has its own timeout).
# Usage: tests/gpu/device-check.sh [OUT_DIR]
# Environment:
#   STRATA_BUILD_DIR  a CUDA build made elsewhere (e.g. on a login node without a GPU, same sources):
#                     stages 1's configure and build are skipped and its binaries are run
#   MPIEXEC           the MPI launcher (default mpiexec)
#   CUDA_ARCH         the architecture to build for (default: the GPU's compute capability)
# With a single GPU the two NCCL ranks share it. NCCL refuses two ranks of one host on one GPU, so each
# rank then gets its own NCCL_HOSTID: NCCL sees two hosts and moves the data through its socket transport.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$PWD/device-check-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/log.txt
exec > >(tee -a "$LOG") 2>&1
BUILD=${STRATA_BUILD_DIR:-$OUT/build}
MPIEXEC=${MPIEXEC:-mpiexec}
JOBS=$(nproc)
PEAK_TFLOPS=989
export OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
stage() { echo; echo "==== $(date -u +%H:%M:%S) $*"; }
fail() { echo "FAILED: $*"; status=1; }

stage "GPU"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv || fail "nvidia-smi"
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.[:space:]')
ARCH=${CUDA_ARCH:-${CAP:-90}}
echo "building for sm_$ARCH"

if [ -n "${STRATA_BUILD_DIR:-}" ]; then
  stage "prebuilt binaries in $BUILD (STRATA_BUILD_DIR), no build"
  for b in src/strata-train tests/strata_unit_tests tests/strata_cuda_tests tests/strata_nccl_tests; do
    [ -x "$BUILD/$b" ] || fail "STRATA_BUILD_DIR has no $b"
    ldd "$BUILD/$b" | grep "not found" && fail "$b: shared libraries not found"
  done
else
stage "configure + build (CUDA on, arch $ARCH, $JOBS jobs)"
timeout 300 cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; fail "configure"; }
timeout 420 cmake --build "$BUILD" -j"$JOBS" --target strata_unit_tests strata_cuda_tests strata_nccl_tests \
  strata-train > "$OUT/build.txt" 2>&1 || { grep -E "error|Error" "$OUT/build.txt" | head -40; fail "build"; }
fi
[ "$status" = 0 ] || { echo "device-check: build failed, see $OUT"; exit 1; }

stage "CUDA kernel tests (every op, CUDA against the double reference and the CPU backend)"
timeout 150 "$BUILD/tests/strata_unit_tests" --gtest_filter='*cuda*:*Cuda*' --gtest_brief=1 > "$OUT/cuda_tests.txt" 2>&1 \
  || fail "CUDA kernel tests"
timeout 60 "$BUILD/tests/strata_cuda_tests" >> "$OUT/cuda_tests.txt" 2>&1 || fail "CUDA device tests"
tail -5 "$OUT/cuda_tests.txt"
if grep -q "SKIPPED" "$OUT/cuda_tests.txt"; then
  grep "SKIPPED" "$OUT/cuda_tests.txt" | head -5
  fail "CUDA tests were skipped although a GPU is present"
fi
echo "CUDA tests: $(grep -E '^\[  PASSED  \]' "$OUT/cuda_tests.txt" | tr '\n' ' ')"

stage "NCCL, 2 ranks on this GPU"
GPUS=$(nvidia-smi --list-gpus 2>/dev/null | wc -l)
HOSTID='exec "$@"'
[ "$GPUS" -lt 2 ] && HOSTID='export NCCL_HOSTID=strata-device-check-${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${SLURM_PROCID:-0}}}; exec "$@"'
NCCL_DEBUG=${NCCL_DEBUG:-WARN} timeout 200 "$MPIEXEC" --oversubscribe --bind-to none -x NCCL_DEBUG -n 2 \
  bash -c "$HOSTID" rank "$BUILD/tests/strata_nccl_tests" > "$OUT/nccl_tests.txt" 2>&1 \
  || fail "NCCL 2-rank tests"
tail -5 "$OUT/nccl_tests.txt"
grep -q "SKIPPED" "$OUT/nccl_tests.txt" && fail "NCCL tests were skipped although a GPU is present"

stage "benchmark GPT 1.3B on one GPU (train.precision=bf16: bf16 GEMMs, fp32 master weights)"
timeout 240 "$BUILD/src/strata-train" --benchmark \
  --model.layers=24 --model.hidden=2048 --model.heads=16 --model.seq_len=2048 --model.vocab_size=50257 \
  --train.micro_batch=8 --train.global_batch=8 --train.steps=4 --train.precision=bf16 > "$OUT/benchmark.txt" 2>&1 \
  || fail "benchmark"
cat "$OUT/benchmark.txt"
grep -q "precision bf16" "$OUT/benchmark.txt" || fail "the benchmark did not run in bf16"
RESULT=$(grep "^RESULT" "$OUT/benchmark.txt" | tail -1)
if [ -n "$RESULT" ]; then
  TOK=$(sed -E 's/.*tokens_per_s=([0-9.]+).*/\1/' <<<"$RESULT")
  GFLOPS=$(sed -E 's/.*model_gflops=([0-9.]+).*/\1/' <<<"$RESULT")
  MFU=$(awk -v g="$GFLOPS" -v p="$PEAK_TFLOPS" 'BEGIN { printf "%.2f", 100 * g / (p * 1000) }')
  {
    echo "precision=bf16 (bf16 GEMM and attention operands on tensor cores, fp32 accumulation; bf16 activations, fp32 residual stream, LayerNorm statistics, optimizer)"
    echo "model=GPT-1.3B layers=24 hidden=2048 heads=16 seq=2048 micro_batch=8"
    echo "tokens_per_s=$TOK"
    echo "activation_mib=$(sed -nE 's/.*activation_mib=([0-9.]+).*/\1/p' <<<"$RESULT")"
    echo "model_tflops=$(awk -v g="$GFLOPS" 'BEGIN { printf "%.1f", g / 1000 }')"
    echo "mfu_percent_vs_${PEAK_TFLOPS}_tflops_bf16_peak=$MFU"
    echo "flops_convention=6*params + 12*layers*hidden*seq per token (PaLM/Megatron, attention unmasked)"
  } | tee "$OUT/figures.txt"
else
  fail "benchmark printed no RESULT line"
fi

stage "done"
[ "$status" = 0 ] && echo "device-check: PASSED (folder $OUT)" || echo "device-check: FAILED (folder $OUT)"
exit "$status"
