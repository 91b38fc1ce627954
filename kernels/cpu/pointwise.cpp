// pointwise.cpp — GELU (fp32, and with bf16 storage) and elementwise add on the CPU, using the shared math of pointwise_math.h.
#include "kernels/bf16.h"
#include "kernels/cpu/ops.h"
#include "kernels/pointwise_math.h"

namespace strata::cpu {

void gelu_forward(float* out, const float* inp, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) out[i] = math::gelu(inp[i]);
}

void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) dinp[i] = math::gelu_grad(inp[i]) * dout[i];
}

void add(float* out, const float* a, const float* b, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void gelu_forward_bf16(bf16* out, bf16* pre, const float* p, std::size_t n) {
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    pre[i] = math::float_to_bf16(p[i]);
    out[i] = math::float_to_bf16(math::gelu(p[i]));
  }
}

void gelu_backward_bf16(float* dinp, const bf16* pre, const float* dout, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) dinp[i] = math::gelu_grad(math::bf16_to_float(pre[i])) * dout[i];
}

}  // namespace strata::cpu
