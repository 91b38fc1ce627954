// pointwise_math.h — per-element math shared by the CPU loops and (when compiled by nvcc) CUDA kernels,
// so the CPU tests exercise the exact formulas the GPU runs.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define STRATA_HD __host__ __device__ __forceinline__
#else
#define STRATA_HD inline
#endif

namespace strata::math {

// GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCubic = 0.044715f;

STRATA_HD float gelu(float x) {
  const float cube = kGeluCubic * x * x * x;
  return 0.5f * x * (1.0f + tanhf(kGeluScale * (x + cube)));
}

STRATA_HD float gelu_grad(float x) {
  const float cube = kGeluCubic * x * x * x;
  const float u = kGeluScale * (x + cube);
  const float th = tanhf(u);
  const float sech2 = 1.0f - th * th;
  return 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
}

// One AdamW step for one element; returns the new parameter and updates m, v in place.
STRATA_HD float adamw_step(float p, float g, float& m, float& v, float beta1, float beta2, float eps,
                           float lr, float wd, float bc1, float bc2) {
  m = beta1 * m + (1.0f - beta1) * g;
  v = beta2 * v + (1.0f - beta2) * g * g;
  const float mhat = m / bc1;
  const float vhat = v / bc2;
  return p - lr * (mhat / (sqrtf(vhat) + eps) + wd * p);
}

}  // namespace strata::math
