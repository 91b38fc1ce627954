// pointwise.cuh — elementwise ops on the device: GELU forward/backward and add. The per-element math
// is kernels/pointwise_math.h, shared with the CPU backend. Outputs may alias inputs as Backend allows
// (each element is read and written by the same thread).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace strata::cuda {

void gelu_forward(float* out, const float* inp, std::size_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n, cudaStream_t stream);
void add(float* out, const float* a, const float* b, std::size_t n, cudaStream_t stream);

}  // namespace strata::cuda
