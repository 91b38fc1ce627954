// kernel_test_util.h — shared pieces of the backend kernel tests (tests/unit/test_kernels_*.cpp): the list
// of backends every test body runs on, per-dtype tolerances, fixed-seed random inputs, host <-> device
// copies through the Backend interface, the tolerance check |got - ref| <= atol + rtol * |ref|, and
// central finite differences in double precision.
//
// Test rules (STYLE.md items 7-9): every op is called through Backend (never strata::cpu directly), so a
// new backend only has to be added to backend_factories(); forward results are compared with a plain
// double-precision reference; backward results with a double analytic gradient that is itself checked
// against finite differences of the double reference loss L = sum(out * G).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/backend.h"
#include "kernels/profiling_backend.h"

namespace strata::ktest {

// ---- backends ----

// One entry per backend the kernel tests run on: the CPU backend always (plain and under the op-profiling
// decorator), the CUDA backend in builds with CUDA. Every parameterized kernel test body is written once
// and instantiated for each entry; a backend that cannot run here (no GPU) makes its instantiations skip,
// with the reason printed (ctest reports them as skipped, not passed). Acquire backends with
// KTEST_BACKEND_OR_SKIP.
struct BackendFactory {
  std::string name;  // test-name fragment: [A-Za-z0-9_] only
  std::function<std::unique_ptr<Backend>()> make;
  std::function<std::string()> unavailable;  // why this backend cannot run here; empty when it can
};

inline const std::vector<BackendFactory>& backend_factories() {
  static const std::vector<BackendFactory> list = {
      {"cpu", [] { return make_cpu_backend(); }, [] { return std::string(); }},
      // The op-profiling decorator over the CPU backend: every op must reach the inner backend unchanged.
      {"cpu_profiled", [] { return make_profiling_backend(make_cpu_backend()); }, [] { return std::string(); }},
#if defined(STRATA_WITH_CUDA)
      {"cuda", [] { return make_cuda_backend(); },
       [] {
         return cuda_device_count() > 0 ? std::string()
                                        : std::string("CUDA backend built, but no CUDA device is visible");
       }},
#endif
  };
  return list;
}

// `decl = factory.make()`, or skip the test (from SetUp or a test body) when the backend cannot run.
#define KTEST_BACKEND_OR_SKIP(decl, factory)                                     \
  if (const std::string ktest_why_ = (factory).unavailable(); !ktest_why_.empty()) \
    GTEST_SKIP() << (factory).name << ": " << ktest_why_;                          \
  decl = (factory).make()

// How GoogleTest prints the parameter in a failure message.
inline void PrintTo(const BackendFactory& f, std::ostream* os) { *os << f.name; }

// Test-name suffix of suites parameterized over backends only.
inline std::string backend_name(const ::testing::TestParamInfo<BackendFactory>& info) { return info.param.name; }

// ---- tolerances ----

struct Tolerance {
  double atol;
  double rtol;
};

// fp32 (the only dtype so far; bf16 entries go next to these with their own constants). The same
// bounds hold for the CUDA backend: its fp32 GEMMs run in full fp32 (no TF32) and its reductions
// accumulate in float in a different but fixed order.
// - pointwise: one op on O(1) inputs through libm-quality tanhf/expf — a few ulp of 2^-23 ~ 1.2e-7.
//   The atol covers results that cancel to ~0 (gelu(x) for x << 0, where 1 + tanh loses digits).
// - reduction: dot products / row sums of up to ~1000 O(1) terms accumulated in float (blocked,
//   SIMD lanes, FMA): the error grows like sqrt(length) * 2^-23 * |terms|, ~1e-5 at the sizes tested;
//   the atol covers results that cancel to ~0 while their terms do not.
// - optimizer: AdamW in float over a few steps: a few ulp of the parameters plus lr * the relative
//   error of m_hat / sqrt(v_hat).
constexpr Tolerance kFp32Pointwise{1e-6, 1e-5};
constexpr Tolerance kFp32Reduction{5e-5, 1e-4};
constexpr Tolerance kFp32Optimizer{1e-6, 1e-5};
// bf16 GEMMs (train.precision=bf16): the product of two bf16 values is exact in fp32, so such a GEMM is
// compared with the double GEMM of the bf16-rounded operands, and only the fp32 accumulation differs:
// the reduction bound, doubled because tensor cores (CUDA) do not document how they round the partial
// sums of an MMA. Rounding the operands itself moves results by ~2^-9 relative per product, far
// outside this bound, which the tests use to show the operands really were rounded.
constexpr Tolerance kBf16Gemm{1e-4, 2e-4};
// A result stored in bf16 (train.precision=bf16 activations): its computation's tolerance plus the final
// rounding to bf16, at most half an ulp: 2^-8 relative (8 significant bits).
constexpr Tolerance plus_bf16_storage(Tolerance t) { return {t.atol, t.rtol + 1.0 / 256}; }

// The double analytic reference gradient against central finite differences (h = 1e-6): truncation
// O(h^2) plus rounding ~1e-16 * |L| / h, far below these for the losses of these tests (|L| < 1e4).
constexpr Tolerance kFiniteDifference{1e-6, 1e-6};
constexpr double kFiniteDifferenceStep = 1e-6;

// ---- inputs ----

// Uniform in [lo, hi) from a fixed seed: reproducible across runs, platforms and backends.
inline std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> random_ints(std::size_t n, std::uint32_t seed, int32_t lo, int32_t hi_inclusive) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(lo, hi_inclusive);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(rng);
  return v;
}

inline std::vector<double> to_double(std::span<const float> v) { return {v.begin(), v.end()}; }

// bf16 operands on the host (kernels/bf16.h rounding): the bf16 words, and their values as floats.
inline std::vector<bf16> to_bf16_words(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = math::float_to_bf16(v[i]);
  return out;
}
inline std::vector<float> bf16_rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = math::round_to_bf16(v[i]);
  return out;
}
// The values of bf16 words, as floats (exact).
inline std::vector<float> widened(const std::vector<bf16>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = math::bf16_to_float(v[i]);
  return out;
}

// Prefill for outputs the op must overwrite (=): a NaN survives into the result wherever it is read.
inline std::vector<float> nan_vector(std::size_t n) { return std::vector<float>(n, std::nanf("")); }

// Coordinates to probe with finite differences: all of them for small tensors, otherwise a fixed-seed
// sample of max_count that always includes the first and the last coordinate.
inline std::vector<std::size_t> probe_indices(std::size_t n, std::size_t max_count, std::uint32_t seed) {
  std::vector<std::size_t> idx;
  if (n <= max_count) {
    for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> dist(0, n - 1);
  idx.push_back(0);
  idx.push_back(n - 1);
  while (idx.size() < max_count) idx.push_back(dist(rng));
  return idx;
}

// ---- device copies (through the Backend interface only) ----

template <typename T>
DeviceBuffer<T> upload(Backend& be, const std::vector<T>& host) {
  DeviceBuffer<T> buf(be, host.size());
  if (!host.empty()) be.copy_to_device(buf.data(), host.data(), buf.bytes());
  return buf;
}

template <typename T>
std::vector<T> download(Backend& be, const DeviceBuffer<T>& buf) {
  std::vector<T> host(buf.size());
  if (!host.empty()) be.copy_to_host(host.data(), buf.data(), buf.bytes());
  return host;
}

inline bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---- checks ----

// |got - ref| <= atol + rtol * |ref| elementwise (NaN fails). Reports the count, the first few failures
// and the worst err / tol ratio, so a near-miss is visible in the message.
template <typename G>
::testing::AssertionResult all_close(std::string_view what, std::span<const G> got, std::span<const double> ref,
                                     Tolerance tol) {
  if (got.size() != ref.size()) {
    return ::testing::AssertionFailure() << what << ": size " << got.size() << ", expected " << ref.size();
  }
  std::ostringstream first;
  std::size_t failures = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - ref[i]);
    const double bound = tol.atol + tol.rtol * std::abs(ref[i]);
    if (err <= bound) {
      worst = std::max(worst, err / bound);
      continue;
    }
    worst = std::isnan(err) ? err : std::max(worst, err / bound);
    if (failures++ < 5) {
      first << "\n  " << what << "[" << i << "]: got " << got[i] << ", expected " << ref[i] << " (|err| " << err
            << " > tol " << bound << ")";
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << failures << " of " << ref.size()
                                       << " elements out of tolerance (atol " << tol.atol << ", rtol " << tol.rtol
                                       << ", worst err/tol " << worst << ")" << first.str();
}

inline ::testing::AssertionResult all_close(std::string_view what, const std::vector<float>& got,
                                            const std::vector<double>& ref, Tolerance tol) {
  return all_close<float>(what, std::span<const float>(got), std::span<const double>(ref), tol);
}

inline ::testing::AssertionResult all_close(std::string_view what, const std::vector<double>& got,
                                            const std::vector<double>& ref, Tolerance tol) {
  return all_close<double>(what, std::span<const double>(got), std::span<const double>(ref), tol);
}

// A bf16 result `got` is the rounding (kernels/bf16.h) of the fp32 result `fp32` of the same computation:
// every element within one bf16 ulp of it, and at least 99% bit-equal. One ulp allows a backend to reach
// the fp32 value by another summation order (a GEMM algorithm picked for the bf16 output) whose ~1e-7
// difference flips a rounding now and then; truncation or a wrong rounding mode differs in about half of
// the elements.
inline ::testing::AssertionResult is_bf16_rounding_of(std::string_view what, const std::vector<bf16>& got,
                                                      const std::vector<float>& fp32) {
  if (got.size() != fp32.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << ", expected " << fp32.size();
  std::size_t differ = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const int want = math::float_to_bf16(fp32[i]).bits, have = got[i].bits;
    if (have == want) continue;
    ++differ;
    if (std::abs(have - want) > 1)
      return ::testing::AssertionFailure() << what << "[" << i << "]: bf16 0x" << std::hex << have << ", the rounding of "
                                           << std::dec << fp32[i] << " is 0x" << std::hex << want;
  }
  if (differ * 100 > got.size())
    return ::testing::AssertionFailure() << what << ": " << differ << " of " << got.size()
                                         << " elements one ulp off the rounding of the fp32 result (more than 1%)";
  return ::testing::AssertionSuccess();
}

// Central finite differences in double: for each i in idx, (L(x + h e_i) - L(x - h e_i)) / 2h, where
// loss() reads x (captured by reference); x is restored exactly after each probe.
inline std::vector<double> finite_difference(const std::function<double()>& loss, std::vector<double>& x,
                                             std::span<const std::size_t> idx, double h = kFiniteDifferenceStep) {
  std::vector<double> grad;
  grad.reserve(idx.size());
  for (std::size_t i : idx) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    grad.push_back((up - down) / (2.0 * h));
  }
  return grad;
}

// The analytic double gradient `analytic` of loss() with respect to x, checked by finite differences
// at the probe coordinates.
inline ::testing::AssertionResult matches_finite_difference(std::string_view what, const std::vector<double>& analytic,
                                                            const std::function<double()>& loss,
                                                            std::vector<double>& x, std::size_t max_probes,
                                                            std::uint32_t seed) {
  const std::vector<std::size_t> idx = probe_indices(x.size(), max_probes, seed);
  const std::vector<double> fd = finite_difference(loss, x, idx);
  std::vector<double> picked;
  for (std::size_t i : idx) picked.push_back(analytic[i]);
  return all_close(std::string(what) + " (analytic vs finite difference)", picked, fd, kFiniteDifference);
}

// a + b elementwise in double: the expected value of an accumulating (+=) output prefilled with a.
inline std::vector<double> plus(const std::vector<float>& a, const std::vector<double>& b) {
  std::vector<double> r(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) r[i] = static_cast<double>(a[i]) + b[i];
  return r;
}

// ---- threads ----

// Runs f with the OpenMP thread count set to `threads`, restoring the previous setting afterwards.
template <typename F>
void with_threads(int threads, F&& f) {
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  f();
  omp_set_num_threads(saved);
#else
  (void)threads;
  f();
#endif
}

}  // namespace strata::ktest
