// convert.cuh — the storage types of activations (fp32, or bf16 under train.precision=bf16) as device code
// sees them, so that one kernel source serves both: a stored value is widened to float when read (exact for
// bf16) and a float result is narrowed to the storage type when written, rounded once to nearest even with
// kernels/bf16.h (the function the CPU emulation calls).
#pragma once

#include "kernels/bf16.h"

namespace strata::cuda {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return math::bf16_to_float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float x) {
  return math::float_to_bf16(x);
}

}  // namespace strata::cuda
