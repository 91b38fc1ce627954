// attention_bf16.cpp — the CPU backend's emulation of bf16 attention (semantics in kernels/backend.h):
// the operands q, k, v and dO are rounded to bf16 (kernels/bf16.h, the rounding the CUDA kernels use) into
// fp32 scratch and the fp32 flash-attention kernels of attention.cpp run on them. The CUDA tensor-core
// kernels also round the probabilities P and dS before their products; this emulation keeps those fp32.
#include <cstddef>
#include <vector>

#include "kernels/cpu/ops.h"

namespace strata::cpu {

void attention_forward_bf16(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) {
  const std::vector<float> qkv_r = rounded_to_bf16(qkv, std::size_t(b) * t * 3 * nh * hs);
  attention_forward(out, lse, qkv_r.data(), b, t, nh, hs);
}

void attention_backward_bf16(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv,
                             int b, int t, int nh, int hs) {
  const std::vector<float> qkv_r = rounded_to_bf16(qkv, std::size_t(b) * t * 3 * nh * hs);
  const std::vector<float> dout_r = rounded_to_bf16(dout, std::size_t(b) * t * nh * hs);
  attention_backward(dqkv, dout_r.data(), out, lse, qkv_r.data(), b, t, nh, hs);
}

}  // namespace strata::cpu
