// matmul_bf16.cpp — the CPU backend's emulation of bf16 GEMMs (semantics in kernels/backend.h): the bf16
// operands (weights, stored activations) are widened into fp32 scratch, the fp32 output gradients rounded to
// bf16 (kernels/bf16.h, the rounding the CUDA kernels use) into fp32 scratch, and they are multiplied by
// the fp32 sgemm of matmul.cpp; a bf16 output is rounded once from the fp32 result. A product of two bf16 values is exact in fp32, so this is
// what a tensor core computes up to the order of the fp32 additions. It is slower than the fp32 path
// (one more pass over every operand): it exists to test the numerics and the parallel layouts of
// train.precision=bf16 on CPU ranks, not to speed anything up.
#include <cstddef>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/cpu/ops.h"

namespace strata::cpu {
namespace {

// f(src[i]) for every element, as floats.
template <class T, class F>
std::vector<float> as_floats(const T* src, std::size_t n, F f) {
  std::vector<float> out(n);
  const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) out[i] = f(src[i]);
  return out;
}

}  // namespace

std::vector<float> widened(const bf16* src, std::size_t n) {
  return as_floats(src, n, [](bf16 x) { return math::bf16_to_float(x); });
}

std::vector<float> rounded_to_bf16(const float* src, std::size_t n) {
  return as_floats(src, n, [](float x) { return math::round_to_bf16(x); });
}

void to_bf16(bf16* dst, const float* src, std::size_t n) {
  const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) dst[i] = math::float_to_bf16(src[i]);
}

void matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc) {
  const std::vector<float> inp_f = widened(inp, static_cast<std::size_t>(n) * c);
  const std::vector<float> w_f = widened(w, static_cast<std::size_t>(oc) * c);
  matmul_forward(out, inp_f.data(), w_f.data(), bias, n, c, oc);
}

void matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc) {
  std::vector<float> out_f(static_cast<std::size_t>(n) * oc);
  matmul_forward_bf16(out_f.data(), inp, w, bias, n, c, oc);
  to_bf16(out, out_f.data(), out_f.size());
}

void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w,
                          int n, int c, int oc) {
  const std::vector<float> dout_r = rounded_to_bf16(dout, static_cast<std::size_t>(n) * oc);
  const std::vector<float> inp_f = widened(inp, static_cast<std::size_t>(n) * c);
  const std::vector<float> w_f = widened(w, static_cast<std::size_t>(oc) * c);
  matmul_backward(dinp, dw, nullptr, dout_r.data(), inp_f.data(), w_f.data(), n, c, oc);
  if (dbias != nullptr) bias_grad_accumulate(dbias, dout, n, oc);  // fp32 reduction of the fp32 gradient
}

}  // namespace strata::cpu
