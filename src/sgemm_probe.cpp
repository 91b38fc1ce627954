// sgemm_probe.cpp — see sgemm_probe.h.
#include "src/sgemm_probe.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace strata {

double measure_sgemm_gflops(int m, int n, int k, double min_seconds) {
  std::vector<float> a(static_cast<std::size_t>(m) * k, 0.5f), b(static_cast<std::size_t>(k) * n, 0.25f),
      c(static_cast<std::size_t>(m) * n, 0.0f);
  using clock = std::chrono::steady_clock;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  double best = 0.0, spent = 0.0;
  int calls = 0;
  while (spent < min_seconds || calls < 3) {
    const auto t0 = clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(),
                n);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    spent += s;
    ++calls;
    best = std::max(best, 2.0 * m * n * static_cast<double>(k) / s / 1e9);
  }
  return best;
}

}  // namespace strata
