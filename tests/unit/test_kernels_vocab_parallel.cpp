// test_kernels_vocab_parallel.cpp — the vocab-parallel cross-entropy ops (Backend::crossentropy_vp_max,
// crossentropy_vp_sumexp, crossentropy_vp_forward_backward) on every backend: the padded vocabulary is
// split into T equal slices as tensor ranks hold it, the per-row statistics are combined on the host the
// way the tensor group's all-reduces combine them (max, then sums), and the losses and the concatenated
// dlogits must reproduce the fused single-rank op (crossentropy_forward_backward): losses within the fp32
// reduction tolerance, dlogits within the pointwise one, padding columns exactly 0, in a separate buffer,
// in place and losses only. Shapes include slices with no real column at all (V = 61 over 4 slices of
// 128) and a target next to a slice boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace strata::ktest {
namespace {

struct VpShape {
  int n, v, vp, slices;
};
void PrintTo(const VpShape& s, std::ostream* os) {
  *os << "N=" << s.n << " V=" << s.v << " Vp=" << s.vp << " T=" << s.slices;
}

const VpShape kVpShapes[] = {{1, 2, 2, 2},     {3, 7, 8, 2},      {4, 257, 264, 2}, {4, 257, 264, 4},
                             {5, 300, 320, 4}, {3, 61, 512, 4},   {2, 1000, 1024, 8}};

constexpr float kPaddingLogit = 120.0f;  // above every real logit: any use of padding shows
constexpr float kDloss = 0.5f;

enum class Mode { separate, in_place, losses_only };
void PrintTo(Mode m, std::ostream* os) {
  *os << (m == Mode::separate ? "separate" : m == Mode::in_place ? "in_place" : "losses_only");
}

class KernelVocabParallelCrossEntropy : public ::testing::TestWithParam<std::tuple<BackendFactory, VpShape, Mode>> {
 protected:
  void SetUp() override {
    KTEST_BACKEND_OR_SKIP(be, std::get<0>(GetParam()));
    s = std::get<1>(GetParam());
    mode = std::get<2>(GetParam());
    logits = random_vector(std::size_t(s.n) * s.vp, 301, -6.0f, 6.0f);
    for (int i = 0; i < s.n; ++i)
      std::fill(logits.begin() + std::ptrdiff_t(i) * s.vp + s.v, logits.begin() + std::ptrdiff_t(i + 1) * s.vp,
                kPaddingLogit);
    targets = random_ints(std::size_t(s.n), 302, 0, s.v - 1);
    targets[0] = s.v - 1;
    if (s.n > 1) targets[1] = std::min(s.v - 1, s.vp / s.slices);  // first column of slice 1 when real
    if (s.n > 2) targets[2] = std::max(0, s.vp / s.slices - 1);   // last column of slice 0
    if (s.n > 2) targets[2] = std::min(targets[2], s.v - 1);
  }
  std::unique_ptr<Backend> be;
  VpShape s{};
  Mode mode{};
  std::vector<float> logits;
  std::vector<int32_t> targets;
};

TEST_P(KernelVocabParallelCrossEntropy, SlicesCombinedOnTheHostMatchTheFusedOp) {
  // The fused single-rank op on the full logits.
  auto f_logits = upload(*be, logits);
  auto f_targets = upload(*be, targets);
  auto f_losses = upload(*be, nan_vector(s.n));
  auto f_dlogits = upload(*be, nan_vector(logits.size()));
  be->crossentropy_forward_backward(f_losses.data(), f_dlogits.data(), f_logits.data(), f_targets.data(), s.n, s.v,
                                    s.vp, kDloss);
  const std::vector<double> ref_losses = to_double(download(*be, f_losses));
  const std::vector<double> ref_dlogits = to_double(download(*be, f_dlogits));

  // The slices, as tensor ranks hold them: (N, Vs) each.
  const int vs = s.vp / s.slices;
  std::vector<DeviceBuffer<float>> slice_logits, slice_dlogits;
  for (int t = 0; t < s.slices; ++t) {
    std::vector<float> host(std::size_t(s.n) * vs);
    for (int i = 0; i < s.n; ++i)
      std::copy_n(logits.begin() + std::ptrdiff_t(i) * s.vp + t * vs, vs, host.begin() + std::ptrdiff_t(i) * vs);
    slice_logits.push_back(upload(*be, host));
    slice_dlogits.push_back(upload(*be, nan_vector(host.size())));
  }
  // Pass 1: row maxes, combined with max (the all-reduce max).
  std::vector<float> mx(s.n, -std::numeric_limits<float>::infinity());
  for (int t = 0; t < s.slices; ++t) {
    auto d_max = upload(*be, nan_vector(s.n));
    be->crossentropy_vp_max(d_max.data(), slice_logits[t].data(), s.n, vs, s.v, t * vs);
    const std::vector<float> m = download(*be, d_max);
    for (int i = 0; i < s.n; ++i) mx[i] = std::max(mx[i], m[i]);
  }
  // Pass 2: sums of exponentials and target logits, combined with sums.
  std::vector<float> sumexp(s.n, 0.0f), target_logit(s.n, 0.0f);
  auto d_mx = upload(*be, mx);
  for (int t = 0; t < s.slices; ++t) {
    auto d_sum = upload(*be, nan_vector(s.n));
    auto d_tgt = upload(*be, nan_vector(s.n));
    be->crossentropy_vp_sumexp(d_sum.data(), d_tgt.data(), slice_logits[t].data(), d_mx.data(), f_targets.data(), s.n,
                               vs, s.v, t * vs);
    const std::vector<float> a = download(*be, d_sum), b = download(*be, d_tgt);
    for (int i = 0; i < s.n; ++i) {
      sumexp[i] += a[i];
      target_logit[i] += b[i];
    }
  }
  // Pass 3: every slice computes the same losses and its own dlogits.
  auto d_sumexp = upload(*be, sumexp);
  auto d_target = upload(*be, target_logit);
  std::vector<float> dlogits(logits.size(), std::nanf(""));
  for (int t = 0; t < s.slices; ++t) {
    auto d_losses = upload(*be, nan_vector(s.n));
    float* out = mode == Mode::losses_only ? nullptr
                 : mode == Mode::in_place  ? slice_logits[t].data()
                                           : slice_dlogits[t].data();
    be->crossentropy_vp_forward_backward(d_losses.data(), out, slice_logits[t].data(), d_mx.data(), d_sumexp.data(),
                                         d_target.data(), f_targets.data(), s.n, vs, s.v, t * vs, kDloss);
    EXPECT_TRUE(all_close("losses of slice " + std::to_string(t), download(*be, d_losses), ref_losses,
                          kFp32Reduction));
    if (mode == Mode::losses_only) continue;
    const std::vector<float> d = download(*be, mode == Mode::in_place ? slice_logits[t] : slice_dlogits[t]);
    for (int i = 0; i < s.n; ++i)
      std::copy_n(d.begin() + std::ptrdiff_t(i) * vs, vs, dlogits.begin() + std::ptrdiff_t(i) * s.vp + t * vs);
  }
  if (mode == Mode::losses_only) {
    for (int t = 0; t < s.slices; ++t) {
      std::vector<float> host(std::size_t(s.n) * vs);
      for (int i = 0; i < s.n; ++i)
        std::copy_n(logits.begin() + std::ptrdiff_t(i) * s.vp + t * vs, vs, host.begin() + std::ptrdiff_t(i) * vs);
      EXPECT_TRUE(bit_identical(download(*be, slice_logits[t]), host)) << "logits of slice " << t << " changed";
    }
    return;
  }
  EXPECT_TRUE(all_close("dlogits", dlogits, ref_dlogits, kFp32Pointwise));
  for (int i = 0; i < s.n; ++i)
    for (int j = s.v; j < s.vp; ++j) ASSERT_EQ(dlogits[std::size_t(i) * s.vp + j], 0.0f) << "padding " << i << "," << j;
}

std::string vp_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, VpShape, Mode>>& info) {
  const VpShape& s = std::get<1>(info.param);
  const Mode m = std::get<2>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_N" << s.n << "_V" << s.v << "_Vp" << s.vp << "_T" << s.slices << "_"
     << (m == Mode::separate ? "separate" : m == Mode::in_place ? "inplace" : "lossesonly");
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelVocabParallelCrossEntropy,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kVpShapes),
                                            ::testing::Values(Mode::separate, Mode::in_place, Mode::losses_only)),
                         vp_name);

}  // namespace
}  // namespace strata::ktest
