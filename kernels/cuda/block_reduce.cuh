// block_reduce.cuh — deterministic warp and block reductions: a fixed butterfly of shuffles within a
// warp, then the warps' results combined in warp order by warp 0. The same inputs give the same bits on
// every run (no atomics, no order that depends on timing).
#pragma once

#include <cuda_runtime.h>

namespace strata::cuda {

constexpr int kWarp = 32;

template <typename T>
struct SumOp {
  __device__ T operator()(T a, T b) const { return a + b; }
};
template <typename T>
struct MaxOp {
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};

template <typename T, typename Op>
__device__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;  // every lane holds the result
}

// All threads of the block must call it (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. `identity` fills the missing warps' slots. Uses 32 elements of shared memory.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call's readers are done with `partial`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  T r = lane < warps ? partial[lane] : identity;
  r = warp_reduce(r, op);
  return r;
}

}  // namespace strata::cuda
