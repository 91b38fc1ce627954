// attention.cuh — causal multi-head self-attention on the device, flash-attention style (semantics and
// layouts in kernels/backend.h and kernels/cpu/attention.cpp: qkv (B,T,3*NH*HS) = [q heads | k heads |
// v heads], out (B,T,NH*HS), lse (B,NH,T), scale 1/sqrt(HS), query i attends keys 0..i).
//
// Rules:
//  - No (T,T) matrix: one thread block per (query or key tile, head, batch) keeps its tiles of Q, K,
//    V (and dO, accumulators) in shared memory, kTile x HS each, plus one kTile x kTile score tile.
//  - Forward: online softmax over the key tiles 0..(diagonal) with running max m and sum l per row;
//    the accumulator is rescaled by exp(m_old - m_new); lse = m + log(l) is kept for backward.
//  - Backward, deterministic without atomics: D = rowsum(dO * O) first; then one kernel per key tile
//    accumulates dK, dV over the query tiles at or below the diagonal, and one kernel per query tile
//    accumulates dQ over the key tiles, both recomputing P = exp(S - lse) and dS = P (dP - D) tile by
//    tile with the same code. dqkv is overwritten.
//  - The tile is 32 when the shared memory of the largest kernel fits the device's opt-in limit
//    (HS <= ~200 on sm_80), else 16; an HS too large even for 16 is refused with the limit.
//  - The bf16 variants (train.precision=bf16) take qkv and give out in bf16 storage (lse and dqkv fp32) and
//    run the tensor-core kernels of attention_tc.cu: bf16 Q, K, V read as stored, dO and the probabilities
//    P and dS rounded to bf16 where they enter a product; fp32 accumulation, scores and softmax statistics;
//    out rounded once from the final fp32 O / l. delta = rowsum(dO * O) reads the fp32 dO and the bf16 O
//    (widened). On a GPU older than sm_80 or for HS > 128 they fall back to the fp32 kernels on qkv and out
//    widened into fp32 scratch and dO rounded to bf16 (the CPU backend's emulation), the fp32 out rounded
//    into the bf16 one.
#pragma once

#include <cuda_runtime.h>

#include "kernels/bf16.h"
#include "kernels/cuda/device_allocator.cuh"

namespace strata::cuda {

void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs, cudaStream_t stream);
void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                        int t, int nh, int hs, DeviceAllocator& alloc, cudaStream_t stream);

void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs,
                            DeviceAllocator& alloc, cudaStream_t stream);
void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                             int b, int t, int nh, int hs, DeviceAllocator& alloc, cudaStream_t stream);

// attention_tc.cu: whether this GPU and head size take the tensor-core kernels, and the kernels (the
// backward takes delta = rowsum(dO * O) computed by the caller).
bool attention_tc_supported(int hs);
void attention_forward_tc(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs, cudaStream_t stream);
void attention_backward_tc(float* dqkv, const float* dout, const float* lse, const float* delta, const bf16* qkv,
                           int b, int t, int nh, int hs, cudaStream_t stream);

}  // namespace strata::cuda
