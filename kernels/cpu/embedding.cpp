// embedding.cpp — token (+ position) embedding lookup and its gradient scatter on the CPU.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_math.h"

namespace strata::cpu {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                       int vocab_start, int vocab_count) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    float* o = out + static_cast<std::size_t>(i) * c;
    const int local = tokens[i] - vocab_start;
    if (local >= 0 && local < vocab_count) {
      std::memcpy(o, wte + static_cast<std::size_t>(local) * c, sizeof(float) * c);
    } else {
      std::fill(o, o + c, 0.0f);
    }
    if (wpe != nullptr) {
      const float* p = wpe + static_cast<std::size_t>(i % t) * c;
#pragma omp simd
      for (int j = 0; j < c; ++j) o[j] += p[j];
    }
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                        int vocab_start, int vocab_count) {
  // Several positions may hold the same token: threads own column blocks (not rows) and walk the
  // positions in order, so the scatter-add is race-free and deterministic.
  const int blocks = (c + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int j0 = blk * kColumnBlock;
    const int j1 = std::min(c, j0 + kColumnBlock);
    for (int i = 0; i < n; ++i) {
      const int local = tokens[i] - vocab_start;
      if (local < 0 || local >= vocab_count) continue;
      float* d = dwte + static_cast<std::size_t>(local) * c;
      const float* g = dout + static_cast<std::size_t>(i) * c;
#pragma omp simd
      for (int j = j0; j < j1; ++j) d[j] += g[j];
    }
  }
  if (dwpe == nullptr) return;
  const int batches = n / t;
#pragma omp parallel for schedule(static)
  for (int pos = 0; pos < t; ++pos) {
    float* d = dwpe + static_cast<std::size_t>(pos) * c;
    for (int b = 0; b < batches; ++b) {
      const float* g = dout + (static_cast<std::size_t>(b) * t + pos) * c;
#pragma omp simd
      for (int j = 0; j < c; ++j) d[j] += g[j];
    }
  }
}

}  // namespace strata::cpu
