// crossentropy.cpp — fused softmax cross-entropy on the CPU: one row at a time, the probabilities live
// only in dlogits (which may be the logits buffer itself), never in a separate softmax tensor.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_math.h"

namespace strata::cpu {

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets, int n,
                                   int v, int vp, float dloss) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float* l = logits + static_cast<std::size_t>(i) * vp;
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < v; ++j) mx = std::max(mx, l[j]);
    const float target_logit = l[targets[i]];  // read before dlogits (maybe aliasing) is written
    float s = 0.0f;
    if (dlogits == nullptr) {
#pragma omp simd reduction(+ : s)
      for (int j = 0; j < v; ++j) s += fast_expf(l[j] - mx);
    } else {
      float* d = dlogits + static_cast<std::size_t>(i) * vp;
#pragma omp simd reduction(+ : s)
      for (int j = 0; j < v; ++j) {
        const float e = fast_expf(l[j] - mx);
        d[j] = e;
        s += e;
      }
      const float scale = dloss / s;
#pragma omp simd
      for (int j = 0; j < v; ++j) d[j] *= scale;
      d[targets[i]] -= dloss;
      std::fill(d + v, d + vp, 0.0f);
    }
    losses[i] = std::log(s) + mx - target_logit;
  }
}


// ---- vocab-parallel pieces: one row's statistics per pass, combined over the tensor group in between ----

namespace {
// Real columns of a slice that starts at vocab_start: those below the global vocabulary v.
int real_columns(int vs, int v, int vocab_start) { return std::clamp(v - vocab_start, 0, vs); }
}  // namespace

void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start) {
  const int real = real_columns(vs, v, vocab_start);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float* l = logits + static_cast<std::size_t>(i) * vs;
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < real; ++j) mx = std::max(mx, l[j]);
    maxes[i] = mx;
  }
}

void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                            const int32_t* targets, int n, int vs, int v, int vocab_start) {
  const int real = real_columns(vs, v, vocab_start);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float* l = logits + static_cast<std::size_t>(i) * vs;
    const float mx = maxes[i];
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < real; ++j) s += fast_expf(l[j] - mx);
    sumexp[i] = s;
    const int local = targets[i] - vocab_start;
    target_logits[i] = (local >= 0 && local < real) ? l[local] : 0.0f;
  }
}

void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                      const float* sumexp, const float* target_logits, const int32_t* targets, int n,
                                      int vs, int v, int vocab_start, float dloss) {
  const int real = real_columns(vs, v, vocab_start);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const float mx = maxes[i], s = sumexp[i];
    losses[i] = std::log(s) + mx - target_logits[i];
    if (dlogits == nullptr) continue;
    const float* l = logits + static_cast<std::size_t>(i) * vs;
    float* d = dlogits + static_cast<std::size_t>(i) * vs;
    const float scale = dloss / s;
#pragma omp simd
    for (int j = 0; j < real; ++j) d[j] = fast_expf(l[j] - mx) * scale;
    const int local = targets[i] - vocab_start;
    if (local >= 0 && local < real) d[local] -= dloss;
    std::fill(d + real, d + vs, 0.0f);
  }
}

}  // namespace strata::cpu
