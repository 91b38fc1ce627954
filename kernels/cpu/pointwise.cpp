// pointwise.cpp — GELU and elementwise add on the CPU, using the shared math of pointwise_math.h.
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

}  // namespace strata::cpu
