// attention_bf16.cpp — the CPU backend's emulation of bf16 attention (semantics in kernels/backend.h): q, k, v
// and the output are stored in bf16; they are widened into fp32 scratch (exact), dO is rounded to bf16
// (kernels/bf16.h, the rounding the CUDA kernels use), the fp32 flash-attention kernels of attention.cpp run
// on them, and the output is rounded once to bf16. The CUDA tensor-core kernels also round the
// probabilities P and dS before their products; this emulation keeps those fp32.
#include <cstddef>
#include <vector>

#include "kernels/cpu/ops.h"

namespace strata::cpu {

void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs) {
  const std::size_t rows = std::size_t(b) * t, c = std::size_t(nh) * hs;
  const std::vector<float> qkv_f = widened(qkv, rows * 3 * c);
  std::vector<float> out_f(rows * c);
  attention_forward(out_f.data(), lse, qkv_f.data(), b, t, nh, hs);
  to_bf16(out, out_f.data(), out_f.size());
}

void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                             int b, int t, int nh, int hs) {
  const std::size_t rows = std::size_t(b) * t, c = std::size_t(nh) * hs;
  const std::vector<float> qkv_f = widened(qkv, rows * 3 * c);
  const std::vector<float> out_f = widened(out, rows * c);
  const std::vector<float> dout_r = rounded_to_bf16(dout, rows * c);
  attention_backward(dqkv, dout_r.data(), out_f.data(), lse, qkv_f.data(), b, t, nh, hs);
}

}  // namespace strata::cpu
