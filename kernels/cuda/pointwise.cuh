// pointwise.cuh — elementwise ops on the device: GELU forward/backward (fp32, or with the bf16 storage of
// train.precision=bf16), add, and the conversions between fp32 and bf16. The per-element math is
// kernels/pointwise_math.h and kernels/bf16.h, shared with the CPU backend. Outputs may alias inputs as
// Backend allows (each element is read and written by the same thread).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/bf16.h"

namespace strata::cuda {

void gelu_forward(float* out, const float* inp, std::size_t n, cudaStream_t stream);
// From the fp32 GELU input p: out = bf16(gelu(p)) and pre = bf16(p), each rounded once (the fallback of the
// MLP's fused GEMM + GELU; neither output may alias inp).
void gelu_forward(bf16* out, bf16* pre, const float* inp, std::size_t n, cudaStream_t stream);
// dinp = gelu_tanh'(inp) * dout with inp fp32 or bf16 (widened exactly); dinp may alias dout.
void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const bf16* inp, const float* dout, std::size_t n, cudaStream_t stream);
void add(float* out, const float* a, const float* b, std::size_t n, cudaStream_t stream);
// dst = math::float_to_bf16(src), round to nearest even (kernels/bf16.h).
void to_bf16(bf16* dst, const float* src, std::size_t n, cudaStream_t stream);
// dst = math::bf16_to_float(src), exact.
void widen_bf16(float* dst, const bf16* src, std::size_t n, cudaStream_t stream);
// dst = math::round_to_bf16(src): the bf16 value as a float (dst may alias src).
void round_to_bf16(float* dst, const float* src, std::size_t n, cudaStream_t stream);

}  // namespace strata::cuda
