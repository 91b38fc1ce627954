// embedding.cuh — token (+ position) embedding lookup and its gradient on the device (semantics in
// kernels/backend.h). The gradient scatter is deterministic without atomics: each thread owns one
// column of one token class (token mod kTokenClasses) and walks the positions in order, so every
// dwte element receives its additions in position order — the CPU backend's order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strata::cuda {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                       int vocab_start, int vocab_count, cudaStream_t stream);
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                        int vocab_start, int vocab_count, cudaStream_t stream);

}  // namespace strata::cuda
