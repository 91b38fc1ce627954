// adamw.cpp — fused AdamW over all parameter segments on the CPU (math in pointwise_math.h).
#include <cmath>

#include "kernels/cpu/ops.h"
#include "kernels/pointwise_math.h"

namespace strata::cpu {

void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                  const AdamWParams& hp) {
  const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta1), static_cast<double>(hp.step)));
  const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta2), static_cast<double>(hp.step)));
#pragma omp parallel
  for (const ParamSegment& seg : segments) {
    const float wd = seg.weight_decay ? hp.weight_decay : 0.0f;
    float* p = params + seg.offset;
    const float* g = grads + seg.grad();
    float* mm = m + seg.state();
    float* vv = v + seg.state();
#pragma omp for simd schedule(static) nowait
    for (std::size_t i = 0; i < seg.count; ++i) {
      p[i] = math::adamw_step(p[i], g[i] * hp.grad_scale, mm[i], vv[i], hp.beta1, hp.beta2, hp.eps, hp.lr, wd, bc1,
                              bc2);
    }
  }
}

}  // namespace strata::cpu
