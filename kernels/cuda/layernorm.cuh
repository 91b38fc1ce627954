// layernorm.cuh — LayerNorm forward/backward on the device (semantics in kernels/backend.h). One warp
// per row: a two-pass mean/variance (no cancellation for inputs with a large mean), deterministic
// shuffle reductions. dw/db are column sums over rows (reduce.cuh); all three gradients accumulate.
// The forward's output is fp32, or bf16 (Backend::layernorm_forward_bf16: the fp32 result rounded once,
// mean and rstd fp32 either way); the backward reads the fp32 input, never the normalized output.
#pragma once

#include <cuda_runtime.h>

#include "kernels/bf16.h"
#include "kernels/cuda/device_allocator.cuh"

namespace strata::cuda {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps, cudaStream_t stream);
void layernorm_forward(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps, cudaStream_t stream);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int n, int c, DeviceAllocator& alloc,
                        cudaStream_t stream);

}  // namespace strata::cuda
