// ops.h — the CPU implementations of the backend ops, as free functions on host memory (one .cpp per
// op family). Semantics, shapes and gradient conventions are those documented in kernels/backend.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/backend.h"

namespace strata::cpu {

// matmul.cpp (CBLAS)
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int n, int c, int oc);
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w,
                     int n, int c, int oc);
// dbias(OC) += column sums of dout(N,OC), deterministic (fixed column blocks).
void bias_grad_accumulate(float* dbias, const float* dout, int n, int oc);

// matmul_bf16.cpp (bf16 operands emulated: widened or rounded into fp32 scratch, then the sgemm above)
void to_bf16(bf16* dst, const float* src, std::size_t n);
// The bf16 value of each of src's n elements, held as floats (exact).
std::vector<float> rounded_to_bf16(const float* src, std::size_t n);
// src's n bf16 values as floats (exact).
std::vector<float> widened(const bf16* src, std::size_t n);
void matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc);
void matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc);
void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w,
                          int n, int c, int oc);

// embedding.cpp
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                       int vocab_start, int vocab_count);
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                        int vocab_start, int vocab_count);

// layernorm.cpp
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps);
// layernorm_forward into fp32 scratch, then out = bf16 of it.
void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                            int n, int c, float eps);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int n, int c);

// pointwise.cpp
void gelu_forward(float* out, const float* inp, std::size_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n);
void add(float* out, const float* a, const float* b, std::size_t n);
// bf16 storage of the MLP activations: pre = bf16(p), out = bf16(gelu(p)) for the fp32 p(n); and
// dinp = gelu'(pre) * dout with pre widened (dinp may alias dout).
void gelu_forward_bf16(bf16* out, bf16* pre, const float* p, std::size_t n);
void gelu_backward_bf16(float* dinp, const bf16* pre, const float* dout, std::size_t n);

// attention.cpp (flash-attention style, O(tile) scratch)
void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs);
void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                        int t, int nh, int hs);
// attention_bf16.cpp (q, k, v and out widened, dO rounded to bf16 into scratch, then the fp32 kernels above;
// out rounded to bf16)
void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs);
void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                             int b, int t, int nh, int hs);

// crossentropy.cpp
void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets, int n,
                                   int v, int vp, float dloss);
void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start);
void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                            const int32_t* targets, int n, int vs, int v, int vocab_start);
void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                      const float* sumexp, const float* target_logits, const int32_t* targets, int n,
                                      int vs, int v, int vocab_start, float dloss);

// adamw.cpp
void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                  const AdamWParams& hp);

// reduce.cpp (fixed chunking: results independent of the thread count)
void sum_squares(float* out, const float* x, std::size_t n);
void sum(float* out, const float* x, std::size_t n);

}  // namespace strata::cpu
