// crossentropy.cuh — fused softmax cross-entropy on the device, whole-vocabulary and vocab-parallel
// (semantics in kernels/backend.h). One block per row; deterministic block reductions. Where dlogits
// aliases logits, every element is read and then written by the same thread, after the row's
// statistics (and the target logit) have been read by the whole block.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strata::cuda {

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets, int n,
                                   int v, int vp, float dloss, cudaStream_t stream);
void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start,
                         cudaStream_t stream);
void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                            const int32_t* targets, int n, int vs, int v, int vocab_start, cudaStream_t stream);
void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                      const float* sumexp, const float* target_logits, const int32_t* targets, int n,
                                      int vs, int v, int vocab_start, float dloss, cudaStream_t stream);

}  // namespace strata::cuda
