// reduce.cpp — deterministic full reductions on the CPU: fixed-size chunks summed in double, then the
// chunk partials summed in order, so the result does not depend on the number of threads.
#include <algorithm>
#include <vector>

#include "kernels/cpu/ops.h"

namespace strata::cpu {
namespace {

constexpr std::size_t kChunk = 1 << 14;

template <typename F>
float chunked_sum(const float* x, std::size_t n, F term) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static)
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t i1 = std::min(n, (c + 1) * kChunk);
    float lanes = 0.0f;  // float SIMD lanes within a 16K chunk, double across chunks
#pragma omp simd reduction(+ : lanes)
    for (std::size_t i = c * kChunk; i < i1; ++i) lanes += term(x[i]);
    partial[c] = lanes;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return static_cast<float>(total);
}

}  // namespace

void sum_squares(float* out, const float* x, std::size_t n) {
  out[0] = chunked_sum(x, n, [](float a) { return a * a; });
}

void sum(float* out, const float* x, std::size_t n) {
  out[0] = chunked_sum(x, n, [](float a) { return a; });
}

}  // namespace strata::cpu
