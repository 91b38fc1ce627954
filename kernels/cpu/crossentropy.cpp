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

}  // namespace strata::cpu
