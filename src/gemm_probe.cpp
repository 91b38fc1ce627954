// gemm_probe.cpp — see gemm_probe.h.
#include "src/gemm_probe.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace strata {

double measure_backend_gemm_gflops(Backend& backend, bool use_bf16, int n, int c, int oc, double min_seconds) {
  const std::size_t in_count = std::size_t(n) * c, w_count = std::size_t(oc) * c;
  DeviceBuffer<float> inp(backend, in_count), w(backend, w_count), out(backend, std::size_t(n) * oc);
  DeviceBuffer<bf16> w16(backend, use_bf16 ? w_count : 0), inp16(backend, use_bf16 ? in_count : 0);
  backend.copy_to_device(inp.data(), std::vector<float>(in_count, 0.5f).data(), inp.bytes());
  backend.copy_to_device(w.data(), std::vector<float>(w_count, 0.25f).data(), w.bytes());
  if (use_bf16) {
    backend.to_bf16(w16.data(), w.data(), w_count);
    backend.to_bf16(inp16.data(), inp.data(), in_count);
  }
  auto gemm = [&] {
    if (use_bf16) backend.matmul_forward_bf16(out.data(), inp16.data(), w16.data(), nullptr, n, c, oc);
    else backend.matmul_forward(out.data(), inp.data(), w.data(), nullptr, n, c, oc);
  };
  using clock = std::chrono::steady_clock;
  gemm();  // algorithm selection, scratch allocation
  backend.synchronize();
  double best = 0.0, spent = 0.0;
  int calls = 0;
  while (spent < min_seconds || calls < 3) {
    const auto t0 = clock::now();
    gemm();
    backend.synchronize();
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    spent += s;
    ++calls;
    best = std::max(best, 2.0 * n * static_cast<double>(c) * oc / s / 1e9);
  }
  return best;
}

}  // namespace strata
