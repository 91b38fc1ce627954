// test_attention.cpp — flash-style causal attention against a plain double-precision reference that
// materializes the full softmax. On every backend (CPU, and CUDA when built; skipped without a GPU),
// through the Backend interface: forward values and lse, backward against the analytic reference,
// sharp (online-rescaling) softmax rows, bit-identical repeated runs, and the CUDA results against the
// CPU backend's. On the CPU kernel (kernels/cpu/attention.cpp) directly: backward against central
// finite differences of the reference loss L = sum(out * G), bounded peak memory at T = 2048, and
// bit-exact determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernel_test_util.h"
#include "kernels/backend.h"
#include "kernels/bf16.h"
#include "kernels/cpu/ops.h"

namespace {

struct Dims {
  int b, t, nh, hs;
  std::size_t qkv_size() const { return std::size_t(b) * t * 3 * nh * hs; }
  std::size_t out_size() const { return std::size_t(b) * t * nh * hs; }
  std::size_t lse_size() const { return std::size_t(b) * nh * t; }
};

std::string dims_name(const Dims& d) {
  std::ostringstream os;
  os << "B" << d.b << "_T" << d.t << "_NH" << d.nh << "_HS" << d.hs;
  return os.str();
}

std::vector<float> random_floats(std::size_t n, float amplitude, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ---- double-precision reference (full softmax per query row) ----

// Offsets of head h's q, k, v in a qkv row, and its column in an out row.
struct HeadCols {
  std::size_t q, k, v, o;
};
HeadCols head_cols(const Dims& d, int h) {
  const std::size_t c = std::size_t(d.nh) * d.hs;
  return {std::size_t(h) * d.hs, c + std::size_t(h) * d.hs, 2 * c + std::size_t(h) * d.hs, std::size_t(h) * d.hs};
}

// Probabilities of query row i of (bi, h): p[j] for j <= i; returns the lse.
double reference_probs(std::vector<double>& p, const std::vector<double>& qkv, const Dims& d, int bi, int h, int i) {
  const std::size_t ld = 3 * std::size_t(d.nh) * d.hs;
  const HeadCols hc = head_cols(d, h);
  const double scale = 1.0 / std::sqrt(double(d.hs));
  const double* qi = &qkv[(std::size_t(bi) * d.t + i) * ld + hc.q];
  p.assign(i + 1, 0.0);
  double mx = -INFINITY;
  for (int j = 0; j <= i; ++j) {
    const double* kj = &qkv[(std::size_t(bi) * d.t + j) * ld + hc.k];
    double s = 0;
    for (int e = 0; e < d.hs; ++e) s += qi[e] * kj[e];
    p[j] = s * scale;
    mx = std::max(mx, p[j]);
  }
  double sum = 0;
  for (int j = 0; j <= i; ++j) sum += std::exp(p[j] - mx);
  const double lse = mx + std::log(sum);
  for (int j = 0; j <= i; ++j) p[j] = std::exp(p[j] - lse);
  return lse;
}

void reference_forward(std::vector<double>& out, std::vector<double>& lse, const std::vector<double>& qkv,
                       const Dims& d) {
  const std::size_t ld = 3 * std::size_t(d.nh) * d.hs;
  const std::size_t c = std::size_t(d.nh) * d.hs;
  out.assign(d.out_size(), 0.0);
  lse.assign(d.lse_size(), 0.0);
  std::vector<double> p;
  for (int bi = 0; bi < d.b; ++bi) {
    for (int h = 0; h < d.nh; ++h) {
      const HeadCols hc = head_cols(d, h);
      for (int i = 0; i < d.t; ++i) {
        lse[(std::size_t(bi) * d.nh + h) * d.t + i] = reference_probs(p, qkv, d, bi, h, i);
        double* oi = &out[(std::size_t(bi) * d.t + i) * c + hc.o];
        for (int j = 0; j <= i; ++j) {
          const double* vj = &qkv[(std::size_t(bi) * d.t + j) * ld + hc.v];
          for (int e = 0; e < d.hs; ++e) oi[e] += p[j] * vj[e];
        }
      }
    }
  }
}

double reference_loss(const std::vector<double>& qkv, const std::vector<double>& g, const Dims& d) {
  std::vector<double> out, lse;
  reference_forward(out, lse, qkv, d);
  double loss = 0;
  for (std::size_t i = 0; i < out.size(); ++i) loss += out[i] * g[i];
  return loss;
}

// Analytic gradient of L = sum(out * g) with respect to qkv.
std::vector<double> reference_backward(const std::vector<double>& qkv, const std::vector<double>& g, const Dims& d) {
  const std::size_t ld = 3 * std::size_t(d.nh) * d.hs;
  const std::size_t c = std::size_t(d.nh) * d.hs;
  const double scale = 1.0 / std::sqrt(double(d.hs));
  std::vector<double> dqkv(d.qkv_size(), 0.0), p, dp;
  for (int bi = 0; bi < d.b; ++bi) {
    for (int h = 0; h < d.nh; ++h) {
      const HeadCols hc = head_cols(d, h);
      auto row = [&](int i) { return (std::size_t(bi) * d.t + i) * ld; };
      for (int i = 0; i < d.t; ++i) {
        reference_probs(p, qkv, d, bi, h, i);
        const double* gi = &g[(std::size_t(bi) * d.t + i) * c + hc.o];
        dp.assign(i + 1, 0.0);
        double dsum = 0;
        for (int j = 0; j <= i; ++j) {
          for (int e = 0; e < d.hs; ++e) dp[j] += gi[e] * qkv[row(j) + hc.v + e];
          dsum += p[j] * dp[j];
        }
        for (int j = 0; j <= i; ++j) {
          const double ds = p[j] * (dp[j] - dsum) * scale;
          for (int e = 0; e < d.hs; ++e) {
            dqkv[row(i) + hc.q + e] += ds * qkv[row(j) + hc.k + e];
            dqkv[row(j) + hc.k + e] += ds * qkv[row(i) + hc.q + e];
            dqkv[row(j) + hc.v + e] += p[j] * gi[e];
          }
        }
      }
    }
  }
  return dqkv;
}

// ---- the kernel under test ----

struct KernelResult {
  std::vector<float> out, lse, dqkv;
};

KernelResult run_kernel(const std::vector<float>& qkv, const std::vector<float>& dout, const Dims& d) {
  KernelResult r{std::vector<float>(d.out_size()), std::vector<float>(d.lse_size()),
                 std::vector<float>(d.qkv_size(), std::nanf(""))};  // NaN: catches elements never written
  strata::cpu::attention_forward(r.out.data(), r.lse.data(), qkv.data(), d.b, d.t, d.nh, d.hs);
  strata::cpu::attention_backward(r.dqkv.data(), dout.data(), r.out.data(), r.lse.data(), qkv.data(), d.b, d.t, d.nh,
                                  d.hs);
  return r;
}

// The same through the Backend interface (device buffers, the backend's stream); bf16: the backend's
// attention_*_bf16 (train.precision=bf16) on qkv stored in bf16 (its rounding), out widened from bf16.
KernelResult run_backend(strata::Backend& be, const std::vector<float>& qkv, const std::vector<float>& dout,
                         const Dims& d, bool bf16 = false) {
  using strata::ktest::download;
  using strata::ktest::upload;
  auto d_qkv = upload(be, qkv);
  auto d_dout = upload(be, dout);
  auto d_out = upload(be, std::vector<float>(d.out_size(), std::nanf("")));
  auto d_lse = upload(be, std::vector<float>(d.lse_size(), std::nanf("")));
  auto d_dqkv = upload(be, std::vector<float>(d.qkv_size(), std::nanf("")));
  if (bf16) {
    auto d_qkv16 = upload(be, strata::ktest::to_bf16_words(qkv));
    auto d_out16 = upload(be, std::vector<strata::bf16>(d.out_size(), strata::bf16{0x7fc0}));  // NaN
    be.attention_forward_bf16(d_out16.data(), d_lse.data(), d_qkv16.data(), d.b, d.t, d.nh, d.hs);
    be.attention_backward_bf16(d_dqkv.data(), d_dout.data(), d_out16.data(), d_lse.data(), d_qkv16.data(), d.b, d.t,
                               d.nh, d.hs);
    return {strata::ktest::widened(download(be, d_out16)), download(be, d_lse), download(be, d_dqkv)};
  } else {
    be.attention_forward(d_out.data(), d_lse.data(), d_qkv.data(), d.b, d.t, d.nh, d.hs);
    be.attention_backward(d_dqkv.data(), d_dout.data(), d_out.data(), d_lse.data(), d_qkv.data(), d.b, d.t, d.nh,
                          d.hs);
  }
  return {download(be, d_out), download(be, d_lse), download(be, d_dqkv)};
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// |got - ref| <= atol + rtol * |ref| elementwise; reports the first few failures.
void expect_close(const std::vector<float>& got, const std::vector<double>& ref, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int failures = 0;
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(double(got[i]) - ref[i]);
    const double tol = atol + rtol * std::abs(ref[i]);
    worst = std::max(worst, err / tol);
    if (!(err <= tol) && failures++ < 5) {
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", expected " << ref[i] << " (tol " << tol << ")";
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " elements out of tolerance (worst err/tol " << worst << ")";
}

// Shapes: T = 1, T < tile, T = tile, T one past a tile, partial last tiles, odd HS, NH = 3, B = 2, and
// HS = 64 (the compile-time specialized path) next to the generic one.
const Dims kShapes[] = {
    {1, 1, 1, 1},    {2, 7, 3, 5},    {1, 64, 1, 64}, {1, 65, 2, 64},   {2, 130, 3, 5},
    {1, 200, 2, 64}, {2, 129, 1, 17}, {1, 1, 2, 64},  {1, 150, 1, 128}, {2, 70, 3, 7},
};

using strata::ktest::BackendFactory;

class AttentionShapes : public ::testing::TestWithParam<std::tuple<BackendFactory, Dims>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    d = std::get<1>(GetParam());
  }
  std::unique_ptr<strata::Backend> be;
  Dims d{};
};

TEST_P(AttentionShapes, ForwardMatchesDoubleReference) {
  // Amplitude 2 gives scores of several units: peaked rows whose max moves between key tiles, which
  // exercises the online-softmax rescaling.
  const std::vector<float> qkv = random_floats(d.qkv_size(), 2.0f, 1234);
  const KernelResult r = run_backend(*be, qkv, random_floats(d.out_size(), 1.0f, 5), d);
  std::vector<double> ref_out, ref_lse;
  reference_forward(ref_out, ref_lse, to_double(qkv), d);
  expect_close(r.out, ref_out, 1e-5, 1e-4, "out");
  expect_close(r.lse, ref_lse, 1e-5, 1e-4, "lse");
}

TEST_P(AttentionShapes, BackwardMatchesAnalyticReference) {
  const std::vector<float> qkv = random_floats(d.qkv_size(), 1.5f, 99);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 7);
  const KernelResult r = run_backend(*be, qkv, g, d);
  const std::vector<double> ref = reference_backward(to_double(qkv), to_double(g), d);
  expect_close(r.dqkv, ref, 1e-5, 1e-4, "dqkv");
}

// Every backend is deterministic run to run; a non-CPU backend also matches the CPU backend within the
// fp32 tolerance (different tiles and summation orders, same math).
TEST_P(AttentionShapes, RepeatableAndMatchesCpuBackend) {
  const std::vector<float> qkv = random_floats(d.qkv_size(), 1.5f, 31);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 32);
  const KernelResult first = run_backend(*be, qkv, g, d);
  const KernelResult second = run_backend(*be, qkv, g, d);
  EXPECT_TRUE(bit_identical(first.out, second.out));
  EXPECT_TRUE(bit_identical(first.lse, second.lse));
  EXPECT_TRUE(bit_identical(first.dqkv, second.dqkv));
  if (be->kind() == strata::DeviceKind::cpu) return;
  const KernelResult cpu = run_kernel(qkv, g, d);
  expect_close(first.out, to_double(cpu.out), 1e-5, 1e-4, "out vs cpu");
  expect_close(first.lse, to_double(cpu.lse), 1e-5, 1e-4, "lse vs cpu");
  expect_close(first.dqkv, to_double(cpu.dqkv), 1e-5, 1e-4, "dqkv vs cpu");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, AttentionShapes,
                         ::testing::Combine(::testing::ValuesIn(strata::ktest::backend_factories()),
                                            ::testing::ValuesIn(kShapes)),
                         [](const ::testing::TestParamInfo<std::tuple<BackendFactory, Dims>>& p) {
                           return std::get<0>(p.param).name + "_" + dims_name(std::get<1>(p.param));
                         });

// ---- bf16 attention (train.precision=bf16) ----

std::vector<float> bf16_rounded(std::vector<float> v) {
  for (float& x : v) x = strata::math::round_to_bf16(x);
  return v;
}

// Shapes of the bf16 suite: the tensor-core kernels' 64-row tiles partly filled (T = 1, 63, 65, 130, 200),
// every padded head size (HS 5 -> 16, 17 -> 32, 40 -> 64, 100 and 128 -> 128) and HS = 160, past the
// tensor-core kernels' limit (the fp32 fallback).
const Dims kBf16Shapes[] = {
    {1, 1, 1, 5},     {2, 63, 3, 5},    {1, 65, 2, 17},  {2, 130, 1, 40},
    {1, 200, 2, 128}, {1, 129, 1, 100}, {1, 70, 1, 160}, {3, 64, 2, 64},
};

class AttentionBf16 : public AttentionShapes {};

// Against the double reference on the bf16-rounded q, k, v and dO: what remains is the rounding of P and
// dS (CUDA), of the stored output (2^-8 relative, which also enters the backward's rowsum(dO * O)) and fp32
// summation order, all far inside atol 1e-2 + rtol 2e-2 (a wrong mask, tile or scale is off by O(1)). lse depends on the rounded inputs only: 1e-3. Deterministic run to run, and the
// bf16 results really are not the fp32 ones.
TEST_P(AttentionBf16, MatchesReferenceOnRoundedOperands) {
  const std::vector<float> qkv = random_floats(d.qkv_size(), 2.0f, 808);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 809);
  const KernelResult r = run_backend(*be, qkv, g, d, true);
  const std::vector<double> qkv16 = to_double(bf16_rounded(qkv)), g16 = to_double(bf16_rounded(g));
  std::vector<double> ref_out, ref_lse;
  reference_forward(ref_out, ref_lse, qkv16, d);
  expect_close(r.out, ref_out, 1e-2, 2e-2, "out");
  expect_close(r.lse, ref_lse, 1e-3, 1e-3, "lse");
  expect_close(r.dqkv, reference_backward(qkv16, g16, d), 1e-2, 2e-2, "dqkv");
  const KernelResult again = run_backend(*be, qkv, g, d, true);
  EXPECT_TRUE(bit_identical(r.out, again.out));
  EXPECT_TRUE(bit_identical(r.dqkv, again.dqkv));
  if (d.t > 1) {
    EXPECT_FALSE(bit_identical(r.out, run_backend(*be, qkv, g, d).out)) << "bf16 ran the fp32 path";
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, AttentionBf16,
                         ::testing::Combine(::testing::ValuesIn(strata::ktest::backend_factories()),
                                            ::testing::ValuesIn(kBf16Shapes)),
                         [](const ::testing::TestParamInfo<std::tuple<BackendFactory, Dims>>& p) {
                           return std::get<0>(p.param).name + "_" + dims_name(std::get<1>(p.param));
                         });

// Scores that drift by tens of units along the keys: with a rising ramp every key tile raises the running
// max (the accumulator is rescaled by factors near e^-10), with a falling one the first tile holds it and
// later tiles contribute almost nothing. Both directions, forward and backward, on the HS = 64 path and
// the generic one.
class AttentionSharpSoftmax : public ::testing::TestWithParam<BackendFactory> {};

TEST_P(AttentionSharpSoftmax, OnlineRescalingMatchesReference) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  for (const Dims d : {Dims{1, 300, 2, 64}, Dims{2, 140, 1, 5}}) {
    for (const float ramp : {0.02f, -0.02f}) {
      SCOPED_TRACE(dims_name(d) + (ramp > 0 ? " rising" : " falling"));
      std::vector<float> qkv = random_floats(d.qkv_size(), 1.0f, 4321);
      const std::size_t c = std::size_t(d.nh) * d.hs;
      // Key position j adds ramp*j/sqrt(HS) to every k entry: with q ~ 1 that moves scores by ~0.02*8 =
      // 0.16 per position, ~48 units over T = 300.
      const float key_step = ramp * 8.0f / std::sqrt(float(d.hs));
      for (int bi = 0; bi < d.b; ++bi) {
        for (int i = 0; i < d.t; ++i) {
          float* row = &qkv[(std::size_t(bi) * d.t + i) * 3 * c];
          for (std::size_t e = 0; e < c; ++e) {
            row[e] = 0.5f + std::abs(row[e]);   // q > 0, so the key ramp moves every score
            row[c + e] += key_step * float(i);  // k of key position i
          }
        }
      }
      const std::vector<float> g = random_floats(d.out_size(), 1.0f, 4322);
      const KernelResult r = run_backend(*be, qkv, g, d);
      std::vector<double> ref_out, ref_lse;
      reference_forward(ref_out, ref_lse, to_double(qkv), d);
      expect_close(r.out, ref_out, 1e-5, 1e-4, "out");
      expect_close(r.lse, ref_lse, 1e-5, 1e-4, "lse");
      expect_close(r.dqkv, reference_backward(to_double(qkv), to_double(g), d), 1e-5, 1e-4, "dqkv");
      // bf16 (the tensor-core kernels' lazy rescaling on CUDA: the rising ramp moves every row's max on
      // every key tile), against the reference on the rounded operands as in AttentionBf16.
      const KernelResult r16 = run_backend(*be, qkv, g, d, true);
      const std::vector<double> qkv16 = to_double(bf16_rounded(qkv)), g16 = to_double(bf16_rounded(g));
      reference_forward(ref_out, ref_lse, qkv16, d);
      expect_close(r16.out, ref_out, 1e-2, 2e-2, "bf16 out");
      expect_close(r16.lse, ref_lse, 1e-3, 1e-3, "bf16 lse");
      expect_close(r16.dqkv, reference_backward(qkv16, g16, d), 1e-2, 2e-2, "bf16 dqkv");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, AttentionSharpSoftmax,
                         ::testing::ValuesIn(strata::ktest::backend_factories()), strata::ktest::backend_name);

// The kernel and the analytic reference both against central differences of the double reference loss.
class AttentionGradCheck : public ::testing::TestWithParam<Dims> {};

TEST_P(AttentionGradCheck, BackwardMatchesFiniteDifferences) {
  const Dims d = GetParam();
  const std::vector<float> qkv = random_floats(d.qkv_size(), 1.5f, 2024);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 77);
  const KernelResult r = run_kernel(qkv, g, d);
  const std::vector<double> gd = to_double(g);
  std::vector<double> x = to_double(qkv);
  const std::vector<double> analytic = reference_backward(x, gd, d);

  constexpr double kEps = 1e-4;  // central-difference truncation error ~eps^2, far below the tolerances
  std::vector<double> fd(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + kEps;
    const double lp = reference_loss(x, gd, d);
    x[i] = x0 - kEps;
    const double lm = reference_loss(x, gd, d);
    x[i] = x0;
    fd[i] = (lp - lm) / (2 * kEps);
  }
  expect_close(r.dqkv, fd, 1e-5, 1e-4, "kernel dqkv vs finite differences");
  for (std::size_t i = 0; i < fd.size(); ++i) {
    ASSERT_NEAR(analytic[i], fd[i], 1e-7 + 1e-6 * std::abs(fd[i])) << "reference backward [" << i << "]";
  }
}

const Dims kGradShapes[] = {{1, 1, 1, 3}, {1, 1, 2, 1}, {2, 7, 3, 5}, {1, 130, 1, 3}, {2, 66, 1, 2}};

INSTANTIATE_TEST_SUITE_P(Cpu, AttentionGradCheck, ::testing::ValuesIn(kGradShapes),
                         [](const ::testing::TestParamInfo<Dims>& p) { return dims_name(p.param); });

// ---- memory ----

// A field of /proc/self/status in KiB, or -1 when unavailable.
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// Forward + backward at T = 2048 must not grow the peak RSS by anything close to one head's (T,T) score
// matrix (16 MiB; B*NH*T*T*4 = 32 MiB for the whole call). Inputs and outputs are allocated and touched,
// OpenMP threads started and free heap memory returned to the OS before the baseline, and the peak
// (VmHWM) is reset to the current RSS, so the growth measured is the kernels' own scratch.
TEST(AttentionMemory, PeakRssGrowthFarBelowScoreMatrix) {
  const Dims d{1, 2048, 2, 64};
  const std::vector<float> qkv = random_floats(d.qkv_size(), 1.0f, 5);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 6);
  std::vector<float> out(d.out_size(), 0.f), lse(d.lse_size(), 0.f), dqkv(d.qkv_size(), 0.f);
  {
    const Dims small{1, 130, 2, 64};  // warm-up: starts the thread pool, per-thread arenas and stacks
    run_kernel(random_floats(small.qkv_size(), 1.0f, 8), random_floats(small.out_size(), 1.0f, 9), small);
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";  // resets VmHWM to the current RSS (Linux >= 4.0)
  }
  const long hwm_before = status_kib("VmHWM");
  const long rss_before = status_kib("VmRSS");
  if (hwm_before < 0 || rss_before < 0) GTEST_SKIP() << "/proc/self/status has no VmHWM/VmRSS";
  if (hwm_before - rss_before > 1024)
    GTEST_SKIP() << "could not reset VmHWM (peak " << hwm_before << " KiB, rss " << rss_before << " KiB)";

  strata::cpu::attention_forward(out.data(), lse.data(), qkv.data(), d.b, d.t, d.nh, d.hs);
  strata::cpu::attention_backward(dqkv.data(), g.data(), out.data(), lse.data(), qkv.data(), d.b, d.t, d.nh, d.hs);

  const long growth_kib = status_kib("VmHWM") - hwm_before;
  const long score_matrix_kib = long(d.b) * d.nh * d.t * d.t * 4 / 1024;
  EXPECT_LT(growth_kib, 8 * 1024) << "peak RSS grew by " << growth_kib << " KiB; the full score matrices are "
                                  << score_matrix_kib << " KiB";
  for (float x : lse) ASSERT_TRUE(std::isfinite(x));
  for (float x : dqkv) ASSERT_TRUE(std::isfinite(x));
}

// ---- determinism ----

// Two runs, and runs with different thread counts, give bit-identical out, lse and dqkv.
TEST(AttentionDeterminism, BitIdenticalAcrossRunsAndThreadCounts) {
  const Dims d{2, 300, 3, 64};
  const std::vector<float> qkv = random_floats(d.qkv_size(), 1.5f, 31);
  const std::vector<float> g = random_floats(d.out_size(), 1.0f, 32);
  const KernelResult first = run_kernel(qkv, g, d);
  const KernelResult second = run_kernel(qkv, g, d);
  EXPECT_TRUE(bit_identical(first.out, second.out));
  EXPECT_TRUE(bit_identical(first.lse, second.lse));
  EXPECT_TRUE(bit_identical(first.dqkv, second.dqkv));
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
  for (int n : {1, 3}) {
    omp_set_num_threads(n);
    const KernelResult other = run_kernel(qkv, g, d);
    EXPECT_TRUE(bit_identical(first.out, other.out)) << n << " threads";
    EXPECT_TRUE(bit_identical(first.lse, other.lse)) << n << " threads";
    EXPECT_TRUE(bit_identical(first.dqkv, other.dqkv)) << n << " threads";
  }
  omp_set_num_threads(threads);
#endif
  // Odd shape through the generic (runtime HS) path as well.
  const Dims odd{2, 71, 3, 5};
  const std::vector<float> qkv_odd = random_floats(odd.qkv_size(), 1.5f, 33);
  const std::vector<float> g_odd = random_floats(odd.out_size(), 1.0f, 34);
  const KernelResult a = run_kernel(qkv_odd, g_odd, odd);
  const KernelResult b = run_kernel(qkv_odd, g_odd, odd);
  EXPECT_TRUE(bit_identical(a.dqkv, b.dqkv));
  EXPECT_TRUE(bit_identical(a.out, b.out));
}

}  // namespace
