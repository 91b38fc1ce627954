// test_kernels_pointwise.cpp — Backend::gelu_forward / gelu_backward / add and embedding_forward /
// embedding_backward on every backend against double references: GELU (tanh form) and its derivative
// (checked by finite differences), the documented aliasing (out = inp, dinp = dout, out = a or b), dinp
// overwritten (=); embedding rows of tokens outside this vocab slice zero in forward and skipped in
// backward, repeated tokens summed, dwte / dwpe accumulating (+=), and bit-identical results for 1 and
// 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace strata::ktest {
namespace {

// ======================= GELU and add =======================

// 1 and 7 (shorter than any SIMD width), 1000, and 4099 (odd, not a multiple of a vector or of a
// CUDA block).
const std::size_t kPointwiseSizes[] = {1, 7, 1000, 4099};

double ref_gelu(double x) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

double ref_gelu_grad(double x) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  const double th = std::tanh(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * 0.044715 * x * x);
}

class KernelPointwise : public ::testing::TestWithParam<std::tuple<BackendFactory, std::size_t>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    n = std::get<1>(GetParam());
    // [-6, 6] reaches both saturated tails of tanh as well as the curved middle.
    x = random_vector(n, 71, -6.0f, 6.0f);
    g = random_vector(n, 72);
  }
  std::unique_ptr<Backend> be;
  std::size_t n = 0;
  std::vector<float> x, g;
};

TEST_P(KernelPointwise, GeluForwardMatchesDoubleReference) {
  std::vector<double> ref(n);
  for (std::size_t i = 0; i < n; ++i) ref[i] = ref_gelu(x[i]);
  auto d_x = upload(*be, x);
  auto d_out = upload(*be, nan_vector(n));
  be->gelu_forward(d_out.data(), d_x.data(), n);
  EXPECT_TRUE(all_close("gelu(x)", download(*be, d_out), ref, kFp32Pointwise));
  be->gelu_forward(d_x.data(), d_x.data(), n);  // out may alias inp
  EXPECT_TRUE(all_close("gelu(x) in place", download(*be, d_x), ref, kFp32Pointwise));
}

TEST_P(KernelPointwise, GeluReferenceGradientMatchesFiniteDifferences) {
  std::vector<double> xd = to_double(x), analytic(n);
  for (std::size_t i = 0; i < n; ++i) analytic[i] = ref_gelu_grad(xd[i]);
  // L = sum(gelu(x) * G) separates per element; probing x_i changes only term i.
  const std::vector<double> gd = to_double(g);
  std::vector<double> dl_dx(n);
  for (std::size_t i = 0; i < n; ++i) dl_dx[i] = analytic[i] * gd[i];
  auto loss = [&] {
    double l = 0.0;
    for (std::size_t i = 0; i < n; ++i) l += ref_gelu(xd[i]) * gd[i];
    return l;
  };
  EXPECT_TRUE(matches_finite_difference("dinp", dl_dx, loss, xd, 64, 1));
}

TEST_P(KernelPointwise, GeluBackwardOverwritesAndMayAliasDout) {
  std::vector<double> ref(n);
  for (std::size_t i = 0; i < n; ++i) ref[i] = ref_gelu_grad(x[i]) * double(g[i]);
  auto d_x = upload(*be, x);
  auto d_g = upload(*be, g);
  auto d_dinp = upload(*be, nan_vector(n));  // dinp is overwritten (=)
  be->gelu_backward(d_dinp.data(), d_x.data(), d_g.data(), n);
  EXPECT_TRUE(all_close("dinp", download(*be, d_dinp), ref, kFp32Pointwise));
  be->gelu_backward(d_g.data(), d_x.data(), d_g.data(), n);  // dinp may alias dout
  EXPECT_TRUE(all_close("dinp in place", download(*be, d_g), ref, kFp32Pointwise));
}

TEST_P(KernelPointwise, AddMatchesAndMayAliasEitherInput) {
  std::vector<double> ref(n);
  for (std::size_t i = 0; i < n; ++i) ref[i] = double(x[i]) + double(g[i]);
  {
    auto d_a = upload(*be, x);
    auto d_b = upload(*be, g);
    auto d_out = upload(*be, nan_vector(n));
    be->add(d_out.data(), d_a.data(), d_b.data(), n);
    EXPECT_TRUE(all_close("a + b", download(*be, d_out), ref, kFp32Pointwise));
    be->add(d_a.data(), d_a.data(), d_b.data(), n);
    EXPECT_TRUE(all_close("a += b", download(*be, d_a), ref, kFp32Pointwise));
  }
  {
    auto d_a = upload(*be, x);
    auto d_b = upload(*be, g);
    be->add(d_b.data(), d_a.data(), d_b.data(), n);
    EXPECT_TRUE(all_close("b += a", download(*be, d_b), ref, kFp32Pointwise));
  }
}

std::string pointwise_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, std::size_t>>& info) {
  return std::get<0>(info.param).name + "_n" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelPointwise,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()),
                                            ::testing::ValuesIn(kPointwiseSizes)),
                         pointwise_name);

// ======================= embedding =======================

// wte holds the rows [vocab_start, vocab_start + vocab_count) of a vocabulary of `vocab` tokens (the
// slice a vocab-parallel rank owns); tokens are drawn from the whole vocabulary, so some fall outside.
struct EmbedShape {
  int b, t, c, vocab, vocab_start, vocab_count;
  int n() const { return b * t; }
};
void PrintTo(const EmbedShape& s, std::ostream* os) {
  *os << "B=" << s.b << " T=" << s.t << " C=" << s.c << " vocab=" << s.vocab << " slice=[" << s.vocab_start << ", "
      << s.vocab_start + s.vocab_count << ")";
}

// B = T = C = 1; odd C = 7 with a slice in the middle of the vocabulary; C = 257 / 300 with a partial
// last 256-column block; a slice at the end of the vocabulary; and more positions than tokens in the
// slice, so tokens repeat.
const EmbedShape kEmbedShapes[] = {
    {1, 1, 1, 3, 0, 3}, {2, 5, 7, 11, 3, 4}, {3, 4, 257, 20, 0, 20}, {2, 8, 300, 50, 40, 10}, {4, 16, 33, 6, 2, 3},
};

std::vector<int32_t> embed_tokens(const EmbedShape& s, std::uint32_t seed) {
  std::vector<int32_t> tok = random_ints(std::size_t(s.n()), seed, 0, s.vocab - 1);
  // Make sure position 0 is in the slice and, when there are two positions, that position 1 repeats it.
  tok[0] = s.vocab_start;
  if (s.n() > 1) tok[1] = s.vocab_start;
  return tok;
}

std::vector<double> ref_embedding_forward(const std::vector<int32_t>& tok, const std::vector<double>& wte,
                                          const std::vector<double>* wpe, const EmbedShape& s) {
  std::vector<double> out(std::size_t(s.n()) * s.c, 0.0);
  for (int i = 0; i < s.n(); ++i) {
    const int local = tok[i] - s.vocab_start;
    for (int j = 0; j < s.c; ++j) {
      double v = (local >= 0 && local < s.vocab_count) ? wte[std::size_t(local) * s.c + j] : 0.0;
      if (wpe) v += (*wpe)[std::size_t(i % s.t) * s.c + j];
      out[std::size_t(i) * s.c + j] = v;
    }
  }
  return out;
}

struct EmbedGrads {
  std::vector<double> dwte, dwpe;
};

EmbedGrads ref_embedding_backward(const std::vector<int32_t>& tok, const std::vector<double>& g, const EmbedShape& s) {
  EmbedGrads r{std::vector<double>(std::size_t(s.vocab_count) * s.c), std::vector<double>(std::size_t(s.t) * s.c)};
  for (int i = 0; i < s.n(); ++i) {
    const int local = tok[i] - s.vocab_start;
    for (int j = 0; j < s.c; ++j) {
      const double gij = g[std::size_t(i) * s.c + j];
      if (local >= 0 && local < s.vocab_count) r.dwte[std::size_t(local) * s.c + j] += gij;
      r.dwpe[std::size_t(i % s.t) * s.c + j] += gij;
    }
  }
  return r;
}

class KernelEmbedding : public ::testing::TestWithParam<std::tuple<BackendFactory, EmbedShape>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    s = std::get<1>(GetParam());
    tok = embed_tokens(s, 81);
    wte = random_vector(std::size_t(s.vocab_count) * s.c, 82);
    wpe = random_vector(std::size_t(s.t) * s.c, 83);
    g = random_vector(std::size_t(s.n()) * s.c, 84);
  }
  std::unique_ptr<Backend> be;
  EmbedShape s{};
  std::vector<int32_t> tok;
  std::vector<float> wte, wpe, g;
};

TEST_P(KernelEmbedding, ForwardMatchesReference) {
  const std::vector<double> wpe_d = to_double(wpe);
  for (const bool with_wpe : {true, false}) {
    SCOPED_TRACE(with_wpe ? "with wpe" : "wpe = nullptr");
    auto d_tok = upload(*be, tok);
    auto d_wte = upload(*be, wte);
    auto d_wpe = upload(*be, wpe);
    auto d_out = upload(*be, nan_vector(std::size_t(s.n()) * s.c));  // out is overwritten (=)
    be->embedding_forward(d_out.data(), d_tok.data(), d_wte.data(), with_wpe ? d_wpe.data() : nullptr, s.n(), s.t,
                          s.c, s.vocab_start, s.vocab_count);
    const std::vector<double> ref = ref_embedding_forward(tok, to_double(wte), with_wpe ? &wpe_d : nullptr, s);
    EXPECT_TRUE(all_close("out", download(*be, d_out), ref, kFp32Pointwise));
  }
}

TEST_P(KernelEmbedding, ReferenceBackwardMatchesFiniteDifferences) {
  std::vector<double> wte_d = to_double(wte), wpe_d = to_double(wpe);
  const std::vector<double> gd = to_double(g);
  const EmbedGrads ref = ref_embedding_backward(tok, gd, s);
  auto loss = [&] {
    const std::vector<double> out = ref_embedding_forward(tok, wte_d, &wpe_d, s);
    double l = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * gd[i];
    return l;
  };
  EXPECT_TRUE(matches_finite_difference("dwte", ref.dwte, loss, wte_d, 32, 1));
  EXPECT_TRUE(matches_finite_difference("dwpe", ref.dwpe, loss, wpe_d, 32, 2));
}

// dwte / dwpe accumulate onto non-zero prefills; rows of tokens never seen keep their prefill exactly.
TEST_P(KernelEmbedding, BackwardMatchesReferenceAndAccumulates) {
  const std::vector<float> dwte0 = random_vector(wte.size(), 91), dwpe0 = random_vector(wpe.size(), 92);
  auto d_tok = upload(*be, tok);
  auto d_g = upload(*be, g);
  auto d_dwte = upload(*be, dwte0);
  auto d_dwpe = upload(*be, dwpe0);
  be->embedding_backward(d_dwte.data(), d_dwpe.data(), d_g.data(), d_tok.data(), s.n(), s.t, s.c, s.vocab_start,
                         s.vocab_count);
  const EmbedGrads ref = ref_embedding_backward(tok, to_double(g), s);
  EXPECT_TRUE(all_close("dwte", download(*be, d_dwte), plus(dwte0, ref.dwte), kFp32Reduction));
  EXPECT_TRUE(all_close("dwpe", download(*be, d_dwpe), plus(dwpe0, ref.dwpe), kFp32Reduction));

  // dwpe = nullptr: only dwte accumulates (a second time).
  be->embedding_backward(d_dwte.data(), nullptr, d_g.data(), d_tok.data(), s.n(), s.t, s.c, s.vocab_start,
                         s.vocab_count);
  std::vector<double> twice = plus(dwte0, ref.dwte);
  for (std::size_t i = 0; i < twice.size(); ++i) twice[i] += ref.dwte[i];
  EXPECT_TRUE(all_close("dwte (second call, dwpe = nullptr)", download(*be, d_dwte), twice, kFp32Reduction));
}

std::string embed_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, EmbedShape>>& info) {
  const EmbedShape& s = std::get<1>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_B" << s.b << "_T" << s.t << "_C" << s.c << "_V" << s.vocab << "_slice"
     << s.vocab_start << "_" << s.vocab_count;
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelEmbedding,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()),
                                            ::testing::ValuesIn(kEmbedShapes)),
                         embed_name);

// Every position holds a token outside the slice: forward rows are zero (or wpe alone), dwte unchanged.
class KernelEmbeddingSlice : public ::testing::TestWithParam<BackendFactory> {};

TEST_P(KernelEmbeddingSlice, TokensOutsideTheSliceAreZeroRowsAndSkipped) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  const EmbedShape s{2, 3, 9, 30, 10, 5};
  const std::vector<int32_t> tok = {0, 9, 15, 29, 16, 3};  // just below, just past, and far from [10, 15)
  const std::vector<float> wte = random_vector(std::size_t(s.vocab_count) * s.c, 101);
  const std::vector<float> wpe = random_vector(std::size_t(s.t) * s.c, 102);
  const std::vector<float> g = random_vector(std::size_t(s.n()) * s.c, 103), dwte0 = random_vector(wte.size(), 104);
  auto d_tok = upload(*be, tok);
  auto d_wte = upload(*be, wte);
  auto d_out = upload(*be, nan_vector(g.size()));
  be->embedding_forward(d_out.data(), d_tok.data(), d_wte.data(), nullptr, s.n(), s.t, s.c, s.vocab_start,
                        s.vocab_count);
  EXPECT_TRUE(all_close("out", download(*be, d_out), std::vector<double>(g.size(), 0.0), kFp32Pointwise));
  auto d_g = upload(*be, g);
  auto d_dwte = upload(*be, dwte0);
  auto d_dwpe = upload(*be, wpe);
  be->embedding_backward(d_dwte.data(), d_dwpe.data(), d_g.data(), d_tok.data(), s.n(), s.t, s.c, s.vocab_start,
                         s.vocab_count);
  EXPECT_TRUE(bit_identical(download(*be, d_dwte), dwte0)) << "dwte must not change";
  const EmbedGrads ref = ref_embedding_backward(tok, to_double(g), s);
  EXPECT_TRUE(all_close("dwpe", download(*be, d_dwpe), plus(wpe, ref.dwpe), kFp32Reduction));
}

// dwte scatters repeated tokens and dwpe sums over the batch; C = 600 spans three 256-column blocks.
TEST_P(KernelEmbeddingSlice, BackwardBitIdenticalForOneAndTwoThreads) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  const EmbedShape s{8, 32, 600, 40, 0, 40};
  const std::vector<int32_t> tok = random_ints(std::size_t(s.n()), 111, 0, s.vocab - 1);  // 256 positions, 40 ids
  const std::vector<float> g = random_vector(std::size_t(s.n()) * s.c, 112);
  struct Grads {
    std::vector<float> dwte, dwpe;
  };
  auto run = [&](int threads) {
    auto d_tok = upload(*be, tok);
    auto d_g = upload(*be, g);
    DeviceBuffer<float> d_dwte(*be, std::size_t(s.vocab_count) * s.c), d_dwpe(*be, std::size_t(s.t) * s.c);
    d_dwte.zero();
    d_dwpe.zero();
    with_threads(threads, [&] {
      be->embedding_backward(d_dwte.data(), d_dwpe.data(), d_g.data(), d_tok.data(), s.n(), s.t, s.c, s.vocab_start,
                             s.vocab_count);
      be->synchronize();
    });
    return Grads{download(*be, d_dwte), download(*be, d_dwpe)};
  };
  const Grads one = run(1), two = run(2);
  EXPECT_TRUE(bit_identical(one.dwte, two.dwte)) << "dwte";
  EXPECT_TRUE(bit_identical(one.dwpe, two.dwpe)) << "dwpe";
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelEmbeddingSlice, ::testing::ValuesIn(backend_factories()), backend_name);

}  // namespace
}  // namespace strata::ktest
