// test_kernels_linear.cpp — Backend::matmul_forward / matmul_backward on every backend against a double
// reference: out = inp W^T + b; dinp (=), dW (+=), dbias (+=) against the analytic double gradient of
// L = sum(out * G), itself checked by finite differences; null bias / dinp / dbias; and a dbias that is
// bit-identical for 1 and 2 threads. The bf16 variants (matmul_forward_bf16 / matmul_backward_bf16, on bf16
// inp and W) against the same double reference on the bf16-rounded operands (inp, W, G), with dbias from the
// unrounded G, on the same shapes; the bf16-output forward is the rounding of the fp32-output one; and proof
// that the operands are rounded (the results miss the fp32 ones).
#include <gtest/gtest.h>

#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace strata::ktest {
namespace {

struct MatmulShape {
  int n, c, oc;
};
void PrintTo(const MatmulShape& s, std::ostream* os) { *os << "N=" << s.n << " C=" << s.c << " OC=" << s.oc; }

// N = 1, C = 1, OC = 1 and 3, odd C = 7, and sizes off every power of two: OC = 300 and 513 leave a
// partial tail after the 256-column blocks of the dbias reduction, C = 257 one past a block.
const MatmulShape kMatmulShapes[] = {
    {1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {4, 7, 3}, {2, 16, 16}, {5, 257, 300}, {7, 64, 513}, {1, 33, 300},
};

// ---- double reference ----

std::vector<double> ref_matmul_forward(const std::vector<double>& inp, const std::vector<double>& w,
                                       const std::vector<double>* bias, const MatmulShape& s) {
  std::vector<double> out(std::size_t(s.n) * s.oc);
  for (int i = 0; i < s.n; ++i) {
    for (int o = 0; o < s.oc; ++o) {
      double acc = bias ? (*bias)[o] : 0.0;
      for (int k = 0; k < s.c; ++k) acc += inp[std::size_t(i) * s.c + k] * w[std::size_t(o) * s.c + k];
      out[std::size_t(i) * s.oc + o] = acc;
    }
  }
  return out;
}

double ref_loss(const std::vector<double>& inp, const std::vector<double>& w, const std::vector<double>& bias,
                const std::vector<double>& g, const MatmulShape& s) {
  const std::vector<double> out = ref_matmul_forward(inp, w, &bias, s);
  double l = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * g[i];
  return l;
}

struct MatmulGrads {
  std::vector<double> dinp, dw, dbias;
};

// Gradient of L = sum(out * G): dinp = G W, dW = G^T inp, dbias = column sums of G.
MatmulGrads ref_matmul_backward(const std::vector<double>& inp, const std::vector<double>& w,
                                const std::vector<double>& g, const MatmulShape& s) {
  MatmulGrads r{std::vector<double>(std::size_t(s.n) * s.c), std::vector<double>(std::size_t(s.oc) * s.c),
                std::vector<double>(s.oc)};
  for (int i = 0; i < s.n; ++i) {
    for (int o = 0; o < s.oc; ++o) {
      const double go = g[std::size_t(i) * s.oc + o];
      r.dbias[o] += go;
      for (int k = 0; k < s.c; ++k) {
        r.dinp[std::size_t(i) * s.c + k] += go * w[std::size_t(o) * s.c + k];
        r.dw[std::size_t(o) * s.c + k] += go * inp[std::size_t(i) * s.c + k];
      }
    }
  }
  return r;
}

// ---- fixture over backend x shape ----

class KernelMatmul : public ::testing::TestWithParam<std::tuple<BackendFactory, MatmulShape>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    s = std::get<1>(GetParam());
    inp = random_vector(std::size_t(s.n) * s.c, 11);
    w = random_vector(std::size_t(s.oc) * s.c, 12);
    bias = random_vector(s.oc, 13);
    g = random_vector(std::size_t(s.n) * s.oc, 14);
  }
  std::unique_ptr<Backend> be;
  MatmulShape s{};
  std::vector<float> inp, w, bias, g;
};

TEST_P(KernelMatmul, ForwardMatchesDoubleReference) {
  const std::vector<double> bias_d = to_double(bias);
  for (const bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with bias" : "bias = nullptr");
    auto d_inp = upload(*be, inp);
    auto d_w = upload(*be, w);
    auto d_bias = upload(*be, bias);
    auto d_out = upload(*be, nan_vector(std::size_t(s.n) * s.oc));  // out is overwritten (=)
    be->matmul_forward(d_out.data(), d_inp.data(), d_w.data(), with_bias ? d_bias.data() : nullptr, s.n, s.c, s.oc);
    const std::vector<double> ref = ref_matmul_forward(to_double(inp), to_double(w), with_bias ? &bias_d : nullptr, s);
    EXPECT_TRUE(all_close("out", download(*be, d_out), ref, kFp32Reduction));
  }
}

TEST_P(KernelMatmul, ReferenceBackwardMatchesFiniteDifferences) {
  std::vector<double> x = to_double(inp), wd = to_double(w), bd = to_double(bias);
  const std::vector<double> gd = to_double(g);
  const MatmulGrads ref = ref_matmul_backward(x, wd, gd, s);
  auto loss = [&] { return ref_loss(x, wd, bd, gd, s); };
  EXPECT_TRUE(matches_finite_difference("dinp", ref.dinp, loss, x, 24, 1));
  EXPECT_TRUE(matches_finite_difference("dw", ref.dw, loss, wd, 24, 2));
  EXPECT_TRUE(matches_finite_difference("dbias", ref.dbias, loss, bd, 24, 3));
}

// dinp is overwritten (NaN prefill); dW and dbias accumulate onto non-zero prefills.
TEST_P(KernelMatmul, BackwardMatchesReferenceAndAccumulates) {
  const std::vector<float> dw0 = random_vector(w.size(), 21), dbias0 = random_vector(bias.size(), 22);
  auto d_inp = upload(*be, inp);
  auto d_w = upload(*be, w);
  auto d_g = upload(*be, g);
  auto d_dinp = upload(*be, nan_vector(inp.size()));
  auto d_dw = upload(*be, dw0);
  auto d_dbias = upload(*be, dbias0);
  be->matmul_backward(d_dinp.data(), d_dw.data(), d_dbias.data(), d_g.data(), d_inp.data(), d_w.data(), s.n, s.c,
                      s.oc);
  const MatmulGrads ref = ref_matmul_backward(to_double(inp), to_double(w), to_double(g), s);
  EXPECT_TRUE(all_close("dinp", download(*be, d_dinp), ref.dinp, kFp32Reduction));
  EXPECT_TRUE(all_close("dw", download(*be, d_dw), plus(dw0, ref.dw), kFp32Reduction));
  EXPECT_TRUE(all_close("dbias", download(*be, d_dbias), plus(dbias0, ref.dbias), kFp32Reduction));
}

// dinp = nullptr and dbias = nullptr are skipped; dW still accumulates.
TEST_P(KernelMatmul, BackwardWithNullDinpAndDbias) {
  const std::vector<float> dw0 = random_vector(w.size(), 23);
  auto d_inp = upload(*be, inp);
  auto d_w = upload(*be, w);
  auto d_g = upload(*be, g);
  auto d_dw = upload(*be, dw0);
  be->matmul_backward(nullptr, d_dw.data(), nullptr, d_g.data(), d_inp.data(), d_w.data(), s.n, s.c, s.oc);
  const MatmulGrads ref = ref_matmul_backward(to_double(inp), to_double(w), to_double(g), s);
  EXPECT_TRUE(all_close("dw", download(*be, d_dw), plus(dw0, ref.dw), kFp32Reduction));
}

// ---- bf16 GEMM operands ----

TEST_P(KernelMatmul, Bf16ForwardMatchesDoubleReferenceOnRoundedOperands) {
  const std::vector<double> bias_d = to_double(bias);
  const std::vector<double> ref_nobias = ref_matmul_forward(to_double(bf16_rounded(inp)), to_double(bf16_rounded(w)),
                                                            nullptr, s);
  const std::vector<double> ref_bias = ref_matmul_forward(to_double(bf16_rounded(inp)), to_double(bf16_rounded(w)),
                                                          &bias_d, s);
  for (const bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with bias" : "bias = nullptr");
    const float* b = nullptr;
    auto d_inp = upload(*be, to_bf16_words(inp));  // a stored bf16 activation
    auto d_w = upload(*be, to_bf16_words(w));
    auto d_bias = upload(*be, bias);
    if (with_bias) b = d_bias.data();
    auto d_out = upload(*be, nan_vector(std::size_t(s.n) * s.oc));
    be->matmul_forward_bf16(d_out.data(), d_inp.data(), d_w.data(), b, s.n, s.c, s.oc);
    const std::vector<float> out = download(*be, d_out);
    EXPECT_TRUE(all_close("out", out, with_bias ? ref_bias : ref_nobias, kBf16Gemm));
    // The bf16-output form: the fp32 result (bias included) rounded once.
    DeviceBuffer<bf16> d_out16(*be, out.size());
    be->matmul_forward_bf16(d_out16.data(), d_inp.data(), d_w.data(), b, s.n, s.c, s.oc);
    const std::vector<bf16> out16 = download(*be, d_out16);
    EXPECT_TRUE(all_close("bf16 out", widened(out16), with_bias ? ref_bias : ref_nobias, plus_bf16_storage(kBf16Gemm)));
    EXPECT_TRUE(is_bf16_rounding_of("bf16 out", out16, out));
  }
}

// dinp = round(G) round(W) (=), dW += round(G)^T round(inp), dbias += column sums of the fp32 G.
TEST_P(KernelMatmul, Bf16BackwardMatchesReferenceOnRoundedOperandsAndAccumulates) {
  const std::vector<float> dw0 = random_vector(w.size(), 21), dbias0 = random_vector(bias.size(), 22);
  auto d_inp = upload(*be, to_bf16_words(inp));
  auto d_w = upload(*be, to_bf16_words(w));
  auto d_g = upload(*be, g);
  auto d_dinp = upload(*be, nan_vector(inp.size()));
  auto d_dw = upload(*be, dw0);
  auto d_dbias = upload(*be, dbias0);
  be->matmul_backward_bf16(d_dinp.data(), d_dw.data(), d_dbias.data(), d_g.data(), d_inp.data(), d_w.data(), s.n, s.c,
                           s.oc);
  const MatmulGrads ref =
      ref_matmul_backward(to_double(bf16_rounded(inp)), to_double(bf16_rounded(w)), to_double(bf16_rounded(g)), s);
  const MatmulGrads ref_fp32_g = ref_matmul_backward(to_double(inp), to_double(w), to_double(g), s);
  EXPECT_TRUE(all_close("dinp", download(*be, d_dinp), ref.dinp, kBf16Gemm));
  EXPECT_TRUE(all_close("dw", download(*be, d_dw), plus(dw0, ref.dw), kBf16Gemm));
  EXPECT_TRUE(all_close("dbias", download(*be, d_dbias), plus(dbias0, ref_fp32_g.dbias), kFp32Reduction));
  EXPECT_EQ(download(*be, d_g), g) << "the fp32 output gradient must be left as it was";

  // Null dinp and dbias are skipped; dW still accumulates.
  auto d_dw2 = upload(*be, dw0);
  be->matmul_backward_bf16(nullptr, d_dw2.data(), nullptr, d_g.data(), d_inp.data(), d_w.data(), s.n, s.c, s.oc);
  EXPECT_TRUE(all_close("dw (null dinp, dbias)", download(*be, d_dw2), plus(dw0, ref.dw), kBf16Gemm));
}

class KernelMatmulBf16Rounding : public ::testing::TestWithParam<BackendFactory> {};

// The bf16 ops must not compute in fp32: on a shape with 64-term dot products their results miss the
// double reference of the unrounded operands by far more than the GEMM tolerance, in most elements.
TEST_P(KernelMatmulBf16Rounding, ResultsAreThoseOfRoundedOperandsNotOfFp32Ones) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  const MatmulShape s{7, 64, 33};
  const std::vector<float> inp = random_vector(std::size_t(s.n) * s.c, 41), w = random_vector(std::size_t(s.oc) * s.c, 42);
  const std::vector<float> g = random_vector(std::size_t(s.n) * s.oc, 43);
  auto d_inp = upload(*be, to_bf16_words(inp));
  auto d_w = upload(*be, to_bf16_words(w));
  auto d_g = upload(*be, g);
  DeviceBuffer<float> d_out(*be, std::size_t(s.n) * s.oc), d_dinp(*be, inp.size()), d_dw(*be, w.size());
  d_dw.zero();
  be->matmul_forward_bf16(d_out.data(), d_inp.data(), d_w.data(), nullptr, s.n, s.c, s.oc);
  be->matmul_backward_bf16(d_dinp.data(), d_dw.data(), nullptr, d_g.data(), d_inp.data(), d_w.data(), s.n, s.c, s.oc);
  const std::vector<double> fp32_out = ref_matmul_forward(to_double(inp), to_double(w), nullptr, s);
  const MatmulGrads fp32 = ref_matmul_backward(to_double(inp), to_double(w), to_double(g), s);
  auto misses = [](const std::vector<float>& got, const std::vector<double>& ref) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < ref.size(); ++i)
      n += std::abs(got[i] - ref[i]) > kBf16Gemm.atol + kBf16Gemm.rtol * std::abs(ref[i]);
    return static_cast<double>(n) / static_cast<double>(ref.size());
  };
  EXPECT_GT(misses(download(*be, d_out), fp32_out), 0.5);
  EXPECT_GT(misses(download(*be, d_dinp), fp32.dinp), 0.5);
  EXPECT_GT(misses(download(*be, d_dw), fp32.dw), 0.5);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelMatmulBf16Rounding, ::testing::ValuesIn(backend_factories()),
                         backend_name);

std::string matmul_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, MatmulShape>>& info) {
  const MatmulShape& s = std::get<1>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_N" << s.n << "_C" << s.c << "_OC" << s.oc;
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelMatmul,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()),
                                            ::testing::ValuesIn(kMatmulShapes)),
                         matmul_name);

// ---- determinism over thread counts ----

class KernelMatmulDeterminism : public ::testing::TestWithParam<BackendFactory> {};

// dbias sums N rows per column: the result must not depend on how many threads share the columns.
// OC = 1000 spans four 256-column blocks (the last partial), so two threads split them.
TEST_P(KernelMatmulDeterminism, DbiasBitIdenticalForOneAndTwoThreads) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  const MatmulShape s{257, 16, 1000};
  const std::vector<float> inp = random_vector(std::size_t(s.n) * s.c, 31), w = random_vector(std::size_t(s.oc) * s.c, 32);
  const std::vector<float> g = random_vector(std::size_t(s.n) * s.oc, 33), dbias0 = random_vector(s.oc, 34);
  auto run = [&](int threads) {
    auto d_inp = upload(*be, inp);
    auto d_w = upload(*be, w);
    auto d_g = upload(*be, g);
    DeviceBuffer<float> d_dw(*be, w.size());
    d_dw.zero();
    auto d_dbias = upload(*be, dbias0);
    with_threads(threads, [&] {
      be->matmul_backward(nullptr, d_dw.data(), d_dbias.data(), d_g.data(), d_inp.data(), d_w.data(), s.n, s.c,
                          s.oc);
      be->synchronize();
    });
    return download(*be, d_dbias);
  };
  EXPECT_TRUE(bit_identical(run(1), run(2)));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelMatmulDeterminism, ::testing::ValuesIn(backend_factories()),
                         backend_name);

}  // namespace
}  // namespace strata::ktest
