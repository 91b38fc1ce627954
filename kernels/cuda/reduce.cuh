// reduce.cuh — deterministic reductions on the device: full sums (Backend::sum / sum_squares) and
// column sums over rows (bias, LayerNorm weight and bias gradients). Fixed chunking that depends only
// on the problem size, partial sums written to scratch, then combined in a fixed order: the result is
// the same bits on every run (no atomics).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_allocator.cuh"

namespace strata::cuda {

// out[0] = sum of x[i] (or of x[i]^2 when squares), as float; partials in double.
void sum(float* out, const float* x, std::size_t n, bool squares, DeviceAllocator& alloc, cudaStream_t stream);

// ---- column sums: out[j] += sum over rows i < n of term(i, j), j < c ----

constexpr int kColumnTile = 32;     // columns per block (one per lane: coalesced rows)
constexpr int kColumnRowLanes = 8;  // rows summed in parallel per block

// Rows per chunk: a function of n only, so the summation order does not depend on the device.
inline int column_rows_per_chunk(int n) { return std::max(64, (n + 511) / 512); }

template <typename Term>
__global__ void column_partials_kernel(float* partial, Term term, int n, int c, int rows_per_chunk) {
  __shared__ float acc[kColumnRowLanes][kColumnTile + 1];
  const int col = blockIdx.x * kColumnTile + threadIdx.x;
  const int r0 = blockIdx.y * rows_per_chunk;
  const int r1 = min(n, r0 + rows_per_chunk);
  float s = 0.0f;
  if (col < c) {
    for (int i = r0 + threadIdx.y; i < r1; i += kColumnRowLanes) s += term(i, col);
  }
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < c) {
    float t = 0.0f;
    for (int k = 0; k < kColumnRowLanes; ++k) t += acc[k][threadIdx.x];
    partial[static_cast<std::size_t>(blockIdx.y) * c + col] = t;
  }
}

// out[j] += sum over chunks k in order of partial[k][j] (a host launcher: kernels are launched only
// from the translation unit that defines them, since device code is not relocatable).
void column_finish(float* out, const float* partial, int chunks, int c, cudaStream_t stream);

template <typename Term>
void column_sum_accumulate(float* out, Term term, int n, int c, DeviceAllocator& alloc, cudaStream_t stream) {
  if (n <= 0 || c <= 0) return;
  const int rows = column_rows_per_chunk(n);
  const int chunks = (n + rows - 1) / rows;
  Scratch<float> partial(alloc, static_cast<std::size_t>(chunks) * c);
  const dim3 grid((c + kColumnTile - 1) / kColumnTile, chunks);
  column_partials_kernel<<<grid, dim3(kColumnTile, kColumnRowLanes), 0, stream>>>(partial.get(), term, n, c, rows);
  CUDA_CHECK_LAUNCH();
  column_finish(out, partial.get(), chunks, c, stream);
}

// Term reading a row-major (N, C) matrix: the plain column sum (bias gradient).
struct MatrixTerm {
  const float* m;
  int c;
  __device__ float operator()(int i, int j) const { return m[static_cast<std::size_t>(i) * c + j]; }
};

}  // namespace strata::cuda
