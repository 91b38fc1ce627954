// test_kernels_loss.cpp — Backend::crossentropy_forward_backward, sum and sum_squares on every backend
// against double references: losses with a log-sum-exp reference (logits up to +-90, where a naive
// exp overflows float), dlogits = (softmax - onehot) * dloss on the real columns and exactly 0 on the
// padding (checked by finite differences of L = dloss * sum(losses)), in a separate buffer, in place
// (dlogits == logits) and skipped (dlogits == nullptr); sums against double sums, bit-identical for 1
// and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace strata::ktest {
namespace {

// ======================= cross-entropy =======================

struct CeShape {
  int n, v, vp;
};
void PrintTo(const CeShape& s, std::ostream* os) { *os << "N=" << s.n << " V=" << s.v << " Vp=" << s.vp; }

// V = 1 (loss 0, gradient 0), odd V = 7 with and without padding, V = 257 / 300 / 1000 padded to a
// multiple of 8 / 64 (as the model pads its vocabulary).
const CeShape kCeShapes[] = {{1, 1, 1}, {1, 7, 8}, {3, 7, 7}, {4, 257, 264}, {5, 300, 320}, {2, 1000, 1024}};

// Real logits are offset + U(-spread, spread). {90, 8}: every exp(logit) overflows float unless the row
// max is subtracted first; {0, 90}: probabilities spanning e^-180, far below float's range.
struct CeLogits {
  float offset, spread;
};
const CeLogits kCeLogits[] = {{0.0f, 4.0f}, {0.0f, 90.0f}, {90.0f, 8.0f}};
void PrintTo(const CeLogits& l, std::ostream* os) { *os << "logits " << l.offset << " +- " << l.spread; }

// Padding columns hold a value above every real logit: any use of them moves the max and the sum.
constexpr float kPaddingLogit = 120.0f;
constexpr float kDloss = 0.5f;

// (n, vp) logits; columns >= v are padding.
std::vector<float> ce_logits(const CeShape& s, const CeLogits& l, std::uint32_t seed) {
  std::vector<float> logits = random_vector(std::size_t(s.n) * s.vp, seed, l.offset - l.spread, l.offset + l.spread);
  for (int i = 0; i < s.n; ++i) {
    std::fill(logits.begin() + std::ptrdiff_t(i) * s.vp + s.v, logits.begin() + std::ptrdiff_t(i + 1) * s.vp,
              kPaddingLogit);
  }
  return logits;
}

std::vector<int32_t> ce_targets(const CeShape& s, std::uint32_t seed) {
  std::vector<int32_t> t = random_ints(std::size_t(s.n), seed, 0, s.v - 1);
  t[0] = s.v - 1;  // the last real column, next to the padding
  if (s.n > 1) t[1] = 0;
  return t;
}

// losses(N) = logsumexp(real logits) - logit[target], with the max subtracted in double.
std::vector<double> ref_losses(const std::vector<double>& logits, const std::vector<int32_t>& targets,
                               const CeShape& s) {
  std::vector<double> losses(s.n);
  for (int i = 0; i < s.n; ++i) {
    const double* l = &logits[std::size_t(i) * s.vp];
    const double mx = *std::max_element(l, l + s.v);
    double sum = 0.0;
    for (int j = 0; j < s.v; ++j) sum += std::exp(l[j] - mx);
    losses[i] = mx + std::log(sum) - l[targets[i]];
  }
  return losses;
}

// Gradient of L = dloss * sum(losses): (softmax - onehot) * dloss on real columns, 0 on padding.
std::vector<double> ref_dlogits(const std::vector<double>& logits, const std::vector<int32_t>& targets,
                                const CeShape& s, double dloss) {
  const std::vector<double> losses = ref_losses(logits, targets, s);
  std::vector<double> d(logits.size(), 0.0);
  for (int i = 0; i < s.n; ++i) {
    const std::size_t row = std::size_t(i) * s.vp;
    const double lse = losses[i] + logits[row + targets[i]];
    for (int j = 0; j < s.v; ++j) d[row + j] = std::exp(logits[row + j] - lse) * dloss;
    d[row + targets[i]] -= dloss;
  }
  return d;
}

class KernelCrossEntropy : public ::testing::TestWithParam<std::tuple<BackendFactory, CeShape, CeLogits>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    s = std::get<1>(GetParam());
    logits = ce_logits(s, std::get<2>(GetParam()), 121);
    targets = ce_targets(s, 122);
    ref_loss = ref_losses(to_double(logits), targets, s);
    ref_grad = ref_dlogits(to_double(logits), targets, s, kDloss);
  }
  // Padding columns of dlogits must be exactly 0 (not merely small).
  void expect_zero_padding(const std::vector<float>& d) const {
    for (int i = 0; i < s.n; ++i) {
      for (int j = s.v; j < s.vp; ++j) {
        ASSERT_EQ(d[std::size_t(i) * s.vp + j], 0.0f) << "padding dlogits[" << i << "][" << j << "]";
      }
    }
  }
  std::unique_ptr<Backend> be;
  CeShape s{};
  std::vector<float> logits;
  std::vector<int32_t> targets;
  std::vector<double> ref_loss, ref_grad;
};

TEST_P(KernelCrossEntropy, ReferenceGradientMatchesFiniteDifferences) {
  std::vector<double> x = to_double(logits);
  auto loss = [&] {
    double l = 0.0;
    for (double li : ref_losses(x, targets, s)) l += kDloss * li;
    return l;
  };
  EXPECT_TRUE(matches_finite_difference("dlogits", ref_grad, loss, x, 48, 1));
}

TEST_P(KernelCrossEntropy, LossesOnlyWhenDlogitsIsNull) {
  auto d_logits = upload(*be, logits);
  auto d_targets = upload(*be, targets);
  auto d_losses = upload(*be, nan_vector(s.n));
  be->crossentropy_forward_backward(d_losses.data(), nullptr, d_logits.data(), d_targets.data(), s.n, s.v, s.vp,
                                    kDloss);
  EXPECT_TRUE(all_close("losses", download(*be, d_losses), ref_loss, kFp32Reduction));
  EXPECT_TRUE(bit_identical(download(*be, d_logits), logits)) << "logits must be left unchanged";
}

TEST_P(KernelCrossEntropy, ForwardBackwardIntoSeparateBuffer) {
  auto d_logits = upload(*be, logits);
  auto d_targets = upload(*be, targets);
  auto d_losses = upload(*be, nan_vector(s.n));
  auto d_dlogits = upload(*be, nan_vector(logits.size()));  // overwritten (=), padding included
  be->crossentropy_forward_backward(d_losses.data(), d_dlogits.data(), d_logits.data(), d_targets.data(), s.n, s.v,
                                    s.vp, kDloss);
  EXPECT_TRUE(all_close("losses", download(*be, d_losses), ref_loss, kFp32Reduction));
  const std::vector<float> d = download(*be, d_dlogits);
  EXPECT_TRUE(all_close("dlogits", d, ref_grad, kFp32Pointwise));
  expect_zero_padding(d);
  EXPECT_TRUE(bit_identical(download(*be, d_logits), logits)) << "logits must be left unchanged";
}

TEST_P(KernelCrossEntropy, ForwardBackwardInPlace) {
  auto d_logits = upload(*be, logits);
  auto d_targets = upload(*be, targets);
  auto d_losses = upload(*be, nan_vector(s.n));
  be->crossentropy_forward_backward(d_losses.data(), d_logits.data(), d_logits.data(), d_targets.data(), s.n, s.v,
                                    s.vp, kDloss);
  EXPECT_TRUE(all_close("losses", download(*be, d_losses), ref_loss, kFp32Reduction));
  const std::vector<float> d = download(*be, d_logits);
  EXPECT_TRUE(all_close("dlogits (aliasing logits)", d, ref_grad, kFp32Pointwise));
  expect_zero_padding(d);
}

std::string ce_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, CeShape, CeLogits>>& info) {
  const CeShape& s = std::get<1>(info.param);
  const CeLogits& l = std::get<2>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_N" << s.n << "_V" << s.v << "_Vp" << s.vp << "_logits" << int(l.offset)
     << "pm" << int(l.spread);
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelCrossEntropy,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kCeShapes),
                                            ::testing::ValuesIn(kCeLogits)),
                         ce_name);

// ======================= sum / sum_squares =======================

// Float accumulation error of a full reduction, relative to the sum of |terms| (not to the result, which
// may cancel to ~0): each of the ~10^3 terms per SIMD lane adds ~2^-24 relative to a partial sum.
constexpr double kFp32SumRtol = 1e-5;

// 1 and 7 (less than a vector), 16384 (one 2^14 chunk), 16385 (one past it), 100000 (7 chunks, the
// last partial).
const std::size_t kSumSizes[] = {1, 7, 16384, 16385, 100000};

class KernelReduce : public ::testing::TestWithParam<std::tuple<BackendFactory, std::size_t>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    n = std::get<1>(GetParam());
    // Offset from zero so that sum() does not cancel to ~0 and its relative accuracy matters. The first
    // and last elements are 4: dropping either (a head or partial-tail bug) moves either sum far past
    // the tolerance.
    x = random_vector(n, 131, -0.5f, 1.0f);
    x.front() = x.back() = 4.0f;
  }
  // out[0] of op(x) through the backend.
  template <typename Op>
  float run(Op op) {
    auto d_x = upload(*be, x);
    auto d_out = upload(*be, nan_vector(1));
    op(*be, d_out.data(), d_x.data(), n);
    return download(*be, d_out)[0];
  }
  std::unique_ptr<Backend> be;
  std::size_t n = 0;
  std::vector<float> x;
};

TEST_P(KernelReduce, SumMatchesDoubleSum) {
  double ref = 0.0, abs_sum = 0.0;
  for (float v : x) {
    ref += v;
    abs_sum += std::abs(v);
  }
  const float got = run([](Backend& b, float* out, const float* in, std::size_t count) { b.sum(out, in, count); });
  EXPECT_NEAR(got, ref, kFp32SumRtol * abs_sum) << "n = " << n;
}

TEST_P(KernelReduce, SumSquaresMatchesDoubleSum) {
  double ref = 0.0;
  for (float v : x) ref += double(v) * v;
  const float got =
      run([](Backend& b, float* out, const float* in, std::size_t count) { b.sum_squares(out, in, count); });
  EXPECT_NEAR(got, ref, kFp32SumRtol * ref) << "n = " << n;
}

TEST_P(KernelReduce, BitIdenticalForOneAndTwoThreads) {
  auto both = [&](int threads) {
    std::vector<float> r(2);
    with_threads(threads, [&] {
      r[0] = run([](Backend& b, float* out, const float* in, std::size_t count) { b.sum(out, in, count); });
      r[1] = run([](Backend& b, float* out, const float* in, std::size_t count) { b.sum_squares(out, in, count); });
    });
    return r;
  };
  EXPECT_TRUE(bit_identical(both(1), both(2))) << "n = " << n;
}

std::string reduce_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, std::size_t>>& info) {
  return std::get<0>(info.param).name + "_n" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelReduce,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kSumSizes)),
                         reduce_name);

}  // namespace
}  // namespace strata::ktest
