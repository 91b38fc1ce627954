// matmul_bf16.cpp — the CPU backend's emulation of bf16 GEMMs (semantics in kernels/backend.h): the
// operands are rounded to bf16 (kernels/bf16.h, the rounding the CUDA kernels use) into fp32 scratch and
// multiplied by the fp32 sgemm of matmul.cpp. A product of two bf16 values is exact in fp32, so this is
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

std::vector<float> widened(const bf16* src, std::size_t n) {
  return as_floats(src, n, [](bf16 x) { return math::bf16_to_float(x); });
}

}  // namespace

std::vector<float> rounded_to_bf16(const float* src, std::size_t n) {
  return as_floats(src, n, [](float x) { return math::round_to_bf16(x); });
}

void to_bf16(bf16* dst, const float* src, std::size_t n) {
  const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) dst[i] = math::float_to_bf16(src[i]);
}

void matmul_forward_bf16(float* out, const float* inp, const bf16* w, const float* bias, int n, int c, int oc) {
  const std::vector<float> inp_r = rounded_to_bf16(inp, static_cast<std::size_t>(n) * c);
  const std::vector<float> w_f = widened(w, static_cast<std::size_t>(oc) * c);
  matmul_forward(out, inp_r.data(), w_f.data(), bias, n, c, oc);
}

void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const bf16* w,
                          int n, int c, int oc) {
  const std::vector<float> dout_r = rounded_to_bf16(dout, static_cast<std::size_t>(n) * oc);
  const std::vector<float> inp_r = rounded_to_bf16(inp, static_cast<std::size_t>(n) * c);
  const std::vector<float> w_f = widened(w, static_cast<std::size_t>(oc) * c);
  matmul_backward(dinp, dw, nullptr, dout_r.data(), inp_r.data(), w_f.data(), n, c, oc);
  if (dbias != nullptr) bias_grad_accumulate(dbias, dout, n, oc);  // fp32 reduction of the fp32 gradient
}

}  // namespace strata::cpu
