// pointwise.cuh — elementwise ops on the device: GELU forward/backward, add, and the float -> bf16
// rounding. The per-element math is kernels/pointwise_math.h and kernels/bf16.h, shared with the CPU
// backend. Outputs may alias inputs as Backend allows
// (each element is read and written by the same thread).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/bf16.h"

namespace strata::cuda {

void gelu_forward(float* out, const float* inp, std::size_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n, cudaStream_t stream);
void add(float* out, const float* a, const float* b, std::size_t n, cudaStream_t stream);
// dst = math::float_to_bf16(src), round to nearest even (kernels/bf16.h).
void to_bf16(bf16* dst, const float* src, std::size_t n, cudaStream_t stream);
// dst = math::round_to_bf16(src): the bf16 value as a float (dst may alias src).
void round_to_bf16(float* dst, const float* src, std::size_t n, cudaStream_t stream);

}  // namespace strata::cuda
