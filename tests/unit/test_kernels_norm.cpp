// test_kernels_norm.cpp — Backend::layernorm_forward / layernorm_backward on every backend against a
// double reference: out, mean, rstd; dinp, dw, db against the analytic double gradient of
// L = sum(out * G) (itself checked by finite differences), all three accumulating (+=) onto non-zero
// prefills; and dw / db bit-identical for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace strata::ktest {
namespace {

constexpr float kEps = 1e-5f;

struct NormShape {
  int n, c;
};
void PrintTo(const NormShape& s, std::ostream* os) { *os << "N=" << s.n << " C=" << s.c; }

// C = 1 (zero variance: out = b, dinp = 0), odd C = 7, C = 257 and 300 one block plus a partial tail
// of the 256-column dw/db reduction, C = 768 (GPT-2 small) in three full blocks.
const NormShape kNormShapes[] = {{1, 1}, {3, 1}, {1, 7}, {5, 7}, {4, 257}, {3, 300}, {2, 768}};

// Inputs are offset from zero (mean ~3): a one-pass variance E[x^2] - E[x]^2 in float would lose digits.
std::vector<float> norm_input(std::size_t count, std::uint32_t seed) { return random_vector(count, seed, 2.0f, 4.0f); }

// ---- double reference ----

struct NormForward {
  std::vector<double> out, mean, rstd;
};

NormForward ref_layernorm_forward(const std::vector<double>& x, const std::vector<double>& w,
                                  const std::vector<double>& b, const NormShape& s) {
  NormForward r{std::vector<double>(x.size()), std::vector<double>(s.n), std::vector<double>(s.n)};
  for (int i = 0; i < s.n; ++i) {
    const double* xi = &x[std::size_t(i) * s.c];
    double m = 0.0;
    for (int j = 0; j < s.c; ++j) m += xi[j];
    m /= s.c;
    double var = 0.0;
    for (int j = 0; j < s.c; ++j) var += (xi[j] - m) * (xi[j] - m);
    var /= s.c;
    const double rs = 1.0 / std::sqrt(var + double(kEps));
    for (int j = 0; j < s.c; ++j) r.out[std::size_t(i) * s.c + j] = (xi[j] - m) * rs * w[j] + b[j];
    r.mean[i] = m;
    r.rstd[i] = rs;
  }
  return r;
}

double ref_loss(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
                const std::vector<double>& g, const NormShape& s) {
  const std::vector<double> out = ref_layernorm_forward(x, w, b, s).out;
  double l = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * g[i];
  return l;
}

struct NormGrads {
  std::vector<double> dinp, dw, db;
};

// With xhat = (x - mean) * rstd and dxhat = G * w:
//   dinp = rstd * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat)),  dw = sum_i G * xhat,  db = sum_i G.
NormGrads ref_layernorm_backward(const std::vector<double>& x, const std::vector<double>& w,
                                 const std::vector<double>& b, const std::vector<double>& g, const NormShape& s) {
  const NormForward f = ref_layernorm_forward(x, w, b, s);
  NormGrads r{std::vector<double>(x.size()), std::vector<double>(s.c), std::vector<double>(s.c)};
  for (int i = 0; i < s.n; ++i) {
    const std::size_t row = std::size_t(i) * s.c;
    double mean_dxhat = 0.0, mean_dxhat_xhat = 0.0;
    for (int j = 0; j < s.c; ++j) {
      const double xhat = (x[row + j] - f.mean[i]) * f.rstd[i];
      mean_dxhat += g[row + j] * w[j];
      mean_dxhat_xhat += g[row + j] * w[j] * xhat;
      r.dw[j] += g[row + j] * xhat;
      r.db[j] += g[row + j];
    }
    mean_dxhat /= s.c;
    mean_dxhat_xhat /= s.c;
    for (int j = 0; j < s.c; ++j) {
      const double xhat = (x[row + j] - f.mean[i]) * f.rstd[i];
      r.dinp[row + j] = f.rstd[i] * (g[row + j] * w[j] - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
  return r;
}

// ---- fixture over backend x shape ----

class KernelLayerNorm : public ::testing::TestWithParam<std::tuple<BackendFactory, NormShape>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    s = std::get<1>(GetParam());
    x = norm_input(std::size_t(s.n) * s.c, 41);
    w = random_vector(s.c, 42, 0.5f, 1.5f);
    b = random_vector(s.c, 43);
    g = random_vector(x.size(), 44);
  }
  std::unique_ptr<Backend> be;
  NormShape s{};
  std::vector<float> x, w, b, g;
};

TEST_P(KernelLayerNorm, ForwardMatchesDoubleReference) {
  auto d_x = upload(*be, x);
  auto d_w = upload(*be, w);
  auto d_b = upload(*be, b);
  auto d_out = upload(*be, nan_vector(x.size()));
  auto d_mean = upload(*be, nan_vector(s.n));
  auto d_rstd = upload(*be, nan_vector(s.n));
  be->layernorm_forward(d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(), d_w.data(), d_b.data(), s.n, s.c,
                        kEps);
  const NormForward ref = ref_layernorm_forward(to_double(x), to_double(w), to_double(b), s);
  EXPECT_TRUE(all_close("out", download(*be, d_out), ref.out, kFp32Reduction));
  EXPECT_TRUE(all_close("mean", download(*be, d_mean), ref.mean, kFp32Reduction));
  EXPECT_TRUE(all_close("rstd", download(*be, d_rstd), ref.rstd, kFp32Reduction));
}

// train.precision=bf16: the output stored in bf16 is the rounding of the fp32 output; mean and rstd are the
// fp32 op's, bit for bit.
TEST_P(KernelLayerNorm, Bf16OutputIsRoundingOfFp32Output) {
  auto d_x = upload(*be, x);
  auto d_w = upload(*be, w);
  auto d_b = upload(*be, b);
  DeviceBuffer<float> d_out(*be, x.size()), d_mean(*be, s.n), d_rstd(*be, s.n), d_mean16(*be, s.n), d_rstd16(*be, s.n);
  DeviceBuffer<bf16> d_out16(*be, x.size());
  be->layernorm_forward(d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(), d_w.data(), d_b.data(), s.n, s.c,
                        kEps);
  be->layernorm_forward_bf16(d_out16.data(), d_mean16.data(), d_rstd16.data(), d_x.data(), d_w.data(), d_b.data(), s.n,
                             s.c, kEps);
  const std::vector<bf16> out16 = download(*be, d_out16);
  EXPECT_TRUE(is_bf16_rounding_of("out", out16, download(*be, d_out)));
  const NormForward ref = ref_layernorm_forward(to_double(x), to_double(w), to_double(b), s);
  EXPECT_TRUE(all_close("out", widened(out16), ref.out, plus_bf16_storage(kFp32Reduction)));
  EXPECT_TRUE(bit_identical(download(*be, d_mean16), download(*be, d_mean)));
  EXPECT_TRUE(bit_identical(download(*be, d_rstd16), download(*be, d_rstd)));
}

TEST_P(KernelLayerNorm, ReferenceBackwardMatchesFiniteDifferences) {
  std::vector<double> xd = to_double(x), wd = to_double(w), bd = to_double(b);
  const std::vector<double> gd = to_double(g);
  const NormGrads ref = ref_layernorm_backward(xd, wd, bd, gd, s);
  auto loss = [&] { return ref_loss(xd, wd, bd, gd, s); };
  EXPECT_TRUE(matches_finite_difference("dinp", ref.dinp, loss, xd, 32, 1));
  EXPECT_TRUE(matches_finite_difference("dw", ref.dw, loss, wd, 32, 2));
  EXPECT_TRUE(matches_finite_difference("db", ref.db, loss, bd, 32, 3));
}

// All three gradients accumulate (+=): dinp adds into the residual-stream gradient.
TEST_P(KernelLayerNorm, BackwardMatchesReferenceAndAccumulates) {
  const std::vector<float> dinp0 = random_vector(x.size(), 51), dw0 = random_vector(s.c, 52),
                           db0 = random_vector(s.c, 53);
  auto d_x = upload(*be, x);
  auto d_w = upload(*be, w);
  auto d_b = upload(*be, b);
  auto d_g = upload(*be, g);
  DeviceBuffer<float> d_out(*be, x.size()), d_mean(*be, s.n), d_rstd(*be, s.n);
  be->layernorm_forward(d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(), d_w.data(), d_b.data(), s.n, s.c,
                        kEps);
  auto d_dinp = upload(*be, dinp0);
  auto d_dw = upload(*be, dw0);
  auto d_db = upload(*be, db0);
  be->layernorm_backward(d_dinp.data(), d_dw.data(), d_db.data(), d_g.data(), d_x.data(), d_w.data(), d_mean.data(),
                         d_rstd.data(), s.n, s.c);
  const NormGrads ref = ref_layernorm_backward(to_double(x), to_double(w), to_double(b), to_double(g), s);
  EXPECT_TRUE(all_close("dinp", download(*be, d_dinp), plus(dinp0, ref.dinp), kFp32Reduction));
  EXPECT_TRUE(all_close("dw", download(*be, d_dw), plus(dw0, ref.dw), kFp32Reduction));
  EXPECT_TRUE(all_close("db", download(*be, d_db), plus(db0, ref.db), kFp32Reduction));
}

std::string norm_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, NormShape>>& info) {
  const NormShape& s = std::get<1>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_N" << s.n << "_C" << s.c;
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelLayerNorm,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kNormShapes)),
                         norm_name);

// ---- determinism over thread counts ----

class KernelLayerNormDeterminism : public ::testing::TestWithParam<BackendFactory> {};

// dw / db sum over rows per column; C = 1000 spans four 256-column blocks (the last partial), so two
// threads split them. dinp is per row and is compared too.
TEST_P(KernelLayerNormDeterminism, BackwardBitIdenticalForOneAndTwoThreads) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  const NormShape s{129, 1000};
  const std::vector<float> x = norm_input(std::size_t(s.n) * s.c, 61), w = random_vector(s.c, 62, 0.5f, 1.5f),
                           b = random_vector(s.c, 63), g = random_vector(x.size(), 64);
  struct Grads {
    std::vector<float> dinp, dw, db;
  };
  auto run = [&](int threads) {
    auto d_x = upload(*be, x);
    auto d_w = upload(*be, w);
    auto d_b = upload(*be, b);
    auto d_g = upload(*be, g);
    DeviceBuffer<float> d_out(*be, x.size()), d_mean(*be, s.n), d_rstd(*be, s.n);
    DeviceBuffer<float> d_dinp(*be, x.size()), d_dw(*be, s.c), d_db(*be, s.c);
    d_dinp.zero();
    d_dw.zero();
    d_db.zero();
    with_threads(threads, [&] {
      be->layernorm_forward(d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(), d_w.data(), d_b.data(), s.n, s.c,
                            kEps);
      be->layernorm_backward(d_dinp.data(), d_dw.data(), d_db.data(), d_g.data(), d_x.data(), d_w.data(),
                             d_mean.data(), d_rstd.data(), s.n, s.c);
      be->synchronize();
    });
    return Grads{download(*be, d_dinp), download(*be, d_dw), download(*be, d_db)};
  };
  const Grads one = run(1), two = run(2);
  EXPECT_TRUE(bit_identical(one.dw, two.dw)) << "dw";
  EXPECT_TRUE(bit_identical(one.db, two.db)) << "db";
  EXPECT_TRUE(bit_identical(one.dinp, two.dinp)) << "dinp";
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelLayerNormDeterminism, ::testing::ValuesIn(backend_factories()),
                         backend_name);

}  // namespace
}  // namespace strata::ktest
