// layernorm.cpp — LayerNorm forward/backward on the CPU. Rows are independent (parallel over rows);
// the weight/bias gradients sum over rows in column blocks, deterministically (vec_math.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_math.h"

namespace strata::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float* x = inp + static_cast<std::size_t>(i) * c;
    float* o = out + static_cast<std::size_t>(i) * c;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < c; ++j) s += x[j];
    const float m = s / c;
    float v = 0.0f;  // two-pass variance: no cancellation for inputs with a large mean
#pragma omp simd reduction(+ : v)
    for (int j = 0; j < c; ++j) v += (x[j] - m) * (x[j] - m);
    const float r = 1.0f / std::sqrt(v / c + eps);
#pragma omp simd
    for (int j = 0; j < c; ++j) o[j] = (x[j] - m) * r * w[j] + b[j];
    mean[i] = m;
    rstd[i] = r;
  }
}

void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                            int n, int c, float eps) {
  std::vector<float> out_f(static_cast<std::size_t>(n) * c);
  layernorm_forward(out_f.data(), mean, rstd, inp, w, b, n, c, eps);
  to_bf16(out, out_f.data(), out_f.size());
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int n, int c) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float* x = inp + static_cast<std::size_t>(i) * c;
    const float* g = dout + static_cast<std::size_t>(i) * c;
    float* dx = dinp + static_cast<std::size_t>(i) * c;
    const float m = mean[i], r = rstd[i];
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
    for (int j = 0; j < c; ++j) {
      const float dnorm = g[j] * w[j];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * (x[j] - m) * r;
    }
    dnorm_mean /= c;
    dnorm_norm_mean /= c;
#pragma omp simd
    for (int j = 0; j < c; ++j) {
      const float norm = (x[j] - m) * r;
      dx[j] += (g[j] * w[j] - dnorm_mean - norm * dnorm_norm_mean) * r;
    }
  }
  const int blocks = (c + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int j0 = blk * kColumnBlock;
    const int j1 = std::min(c, j0 + kColumnBlock);
    float acc_w[kColumnBlock] = {}, acc_b[kColumnBlock] = {};
    for (int i = 0; i < n; ++i) {
      const float* x = inp + static_cast<std::size_t>(i) * c;
      const float* g = dout + static_cast<std::size_t>(i) * c;
      const float m = mean[i], r = rstd[i];
#pragma omp simd
      for (int j = j0; j < j1; ++j) {
        acc_w[j - j0] += g[j] * (x[j] - m) * r;
        acc_b[j - j0] += g[j];
      }
    }
    for (int j = j0; j < j1; ++j) {
      dw[j] += acc_w[j - j0];
      db[j] += acc_b[j - j0];
    }
  }
}

}  // namespace strata::cpu
