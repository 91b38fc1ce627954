// adamw.cuh — multi-tensor AdamW on the device: every ParamSegment of a flat parameter buffer in a few
// launches (up to kAdamWSegmentsPerLaunch segments each, passed by value as a kernel argument, so no
// host-to-device copy and no synchronization per step). Per-element math: math::adamw_step, shared
// with the CPU backend; bias corrections computed on the host in double, as there.
#pragma once

#include <cuda_runtime.h>

#include <span>

#include "kernels/backend.h"

namespace strata::cuda {

void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                  const AdamWParams& hp, cudaStream_t stream);

}  // namespace strata::cuda
