// test_kernels_adamw.cpp — Backend::adamw_update on every backend against a scalar double AdamW over a
// few steps: g = grad * grad_scale first; m, v moments; bias correction by step; decoupled weight decay
// only on segments with weight_decay = true; elements outside every segment untouched.
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

// A flat parameter buffer of `total` elements cut into segments. Each layout has segments with and
// without decay, odd and length-1 segments; some leave gaps that no segment covers.
struct AdamWLayout {
  const char* name;
  std::size_t total;
  std::vector<ParamSegment> segments;
};
void PrintTo(const AdamWLayout& l, std::ostream* os) { *os << l.name << " (" << l.total << " elements)"; }

const AdamWLayout kLayouts[] = {
    {"one", 1, {{0, 1, true}}},
    {"mixed", 1000, {{0, 300, true}, {300, 1, false}, {301, 0, true}, {301, 257, true}, {558, 442, false}}},
    {"gaps", 64, {{3, 7, false}, {10, 33, true}, {50, 13, true}}},  // [0,3), [43,50), [63,64) uncovered
};

// Scalar double AdamW for one element (the float hyperparameters widened to double exactly).
struct RefState {
  double p, m, v;
};

void ref_adamw_step(RefState& s, double grad, const AdamWParams& hp, bool decay) {
  const double b1 = hp.beta1, b2 = hp.beta2;
  const double g = grad * double(hp.grad_scale);
  s.m = b1 * s.m + (1.0 - b1) * g;
  s.v = b2 * s.v + (1.0 - b2) * g * g;
  const double mhat = s.m / (1.0 - std::pow(b1, double(hp.step)));
  const double vhat = s.v / (1.0 - std::pow(b2, double(hp.step)));
  const double wd = decay ? double(hp.weight_decay) : 0.0;
  s.p -= double(hp.lr) * (mhat / (std::sqrt(vhat) + double(hp.eps)) + wd * s.p);
}

class KernelAdamW : public ::testing::TestWithParam<std::tuple<BackendFactory, AdamWLayout>> {};

TEST_P(KernelAdamW, StepsMatchDoubleReference) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const AdamWLayout& layout = std::get<1>(GetParam());
  const std::size_t n = layout.total;

  // Segment membership of each element: -1 outside every segment, else 0 / 1 for its decay flag.
  std::vector<int> decay(n, -1);
  for (const ParamSegment& seg : layout.segments) {
    for (std::size_t i = seg.offset; i < seg.offset + seg.count; ++i) decay[i] = seg.weight_decay ? 1 : 0;
  }

  const std::vector<float> p0 = random_vector(n, 141), m0 = random_vector(n, 142, -0.1f, 0.1f),
                           v0 = random_vector(n, 143, 0.0f, 0.1f);
  std::vector<RefState> ref(n);
  for (std::size_t i = 0; i < n; ++i) ref[i] = {p0[i], m0[i], v0[i]};

  auto d_p = upload(*be, p0);
  auto d_m = upload(*be, m0);
  auto d_v = upload(*be, v0);
  AdamWParams hp;
  hp.lr = 0.05f;
  hp.beta1 = 0.9f;
  hp.beta2 = 0.95f;
  hp.eps = 1e-8f;
  hp.weight_decay = 0.1f;
  for (long step = 1; step <= 4; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    hp.step = step;
    hp.grad_scale = step % 2 ? 0.5f : 1.0f;  // as after a clipped and an unclipped step
    // Gradients in [-2, 2]: after grad_scale, v sits well above eps^2 and m changes sign between steps.
    const std::vector<float> grad = random_vector(n, 150 + std::uint32_t(step), -2.0f, 2.0f);
    auto d_grad = upload(*be, grad);
    be->adamw_update(d_p.data(), d_grad.data(), d_m.data(), d_v.data(), layout.segments, hp);

    std::vector<double> ref_p(n), ref_m(n), ref_v(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (decay[i] >= 0) ref_adamw_step(ref[i], grad[i], hp, decay[i] == 1);
      ref_p[i] = ref[i].p;
      ref_m[i] = ref[i].m;
      ref_v[i] = ref[i].v;
    }
    const std::vector<float> p = download(*be, d_p), m = download(*be, d_m), v = download(*be, d_v);
    ASSERT_TRUE(all_close("params", p, ref_p, kFp32Optimizer));
    ASSERT_TRUE(all_close("m", m, ref_m, kFp32Optimizer));
    ASSERT_TRUE(all_close("v", v, ref_v, kFp32Optimizer));
    for (std::size_t i = 0; i < n; ++i) {
      if (decay[i] >= 0) continue;
      ASSERT_EQ(p[i], p0[i]) << "params[" << i << "] is outside every segment";
      ASSERT_EQ(m[i], m0[i]) << "m[" << i << "] is outside every segment";
      ASSERT_EQ(v[i], v0[i]) << "v[" << i << "] is outside every segment";
    }
  }
}

// ZeRO keeps a rank's optimizer state compact: the same segments with their state packed elsewhere
// give bit-identical parameters and state.
TEST_P(KernelAdamW, CompactStateMatchesStateLaidOutLikeParams) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const AdamWLayout& layout = std::get<1>(GetParam());
  const std::size_t n = layout.total;
  std::vector<ParamSegment> packed = layout.segments;
  std::size_t state_total = 0;
  for (auto it = packed.rbegin(); it != packed.rend(); ++it) {  // reversed packing order, on purpose
    it->state_offset = state_total;
    state_total += it->count;
  }
  const std::vector<float> p0 = random_vector(n, 241), g = random_vector(n, 242, -1.0f, 1.0f);
  const std::vector<float> zeros_full(n, 0.0f), zeros_packed(state_total, 0.0f);
  auto p_a = upload(*be, p0), p_b = upload(*be, p0), grad = upload(*be, g);
  auto m_a = upload(*be, zeros_full), v_a = upload(*be, zeros_full);
  auto m_b = upload(*be, zeros_packed), v_b = upload(*be, zeros_packed);
  AdamWParams hp;
  hp.lr = 0.01f;
  hp.weight_decay = 0.1f;
  for (long step = 1; step <= 3; ++step) {
    hp.step = step;
    be->adamw_update(p_a.data(), grad.data(), m_a.data(), v_a.data(), layout.segments, hp);
    be->adamw_update(p_b.data(), grad.data(), m_b.data(), v_b.data(), packed, hp);
  }
  ASSERT_EQ(download(*be, p_a), download(*be, p_b));
  const std::vector<float> m_full = download(*be, m_a), m_packed = download(*be, m_b);
  for (const ParamSegment& seg : packed)
    for (std::size_t i = 0; i < seg.count; ++i) ASSERT_EQ(m_full[seg.offset + i], m_packed[seg.state_offset + i]);
}

// ZeRO-2 also keeps the gradient compact: segments with grad_at_state read it at their state offset,
// and give the same parameters and state as reading it at the parameters' offset.
TEST_P(KernelAdamW, CompactGradientsMatchGradientsLaidOutLikeParams) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const AdamWLayout& layout = std::get<1>(GetParam());
  const std::size_t n = layout.total;
  std::vector<ParamSegment> packed = layout.segments;
  std::size_t state_total = 0;
  for (auto it = packed.rbegin(); it != packed.rend(); ++it) {  // reversed packing order, on purpose
    it->state_offset = state_total;
    it->grad_at_state = true;
    state_total += it->count;
  }
  const std::vector<float> p0 = random_vector(n, 341), g = random_vector(n, 342, -1.0f, 1.0f);
  std::vector<float> g_packed(state_total, 1e30f);
  for (const ParamSegment& seg : packed)
    for (std::size_t i = 0; i < seg.count; ++i) g_packed[seg.state_offset + i] = g[seg.offset + i];
  const std::vector<float> zeros_packed(state_total, 0.0f);
  auto p_a = upload(*be, p0), p_b = upload(*be, p0), grad_a = upload(*be, g), grad_b = upload(*be, g_packed);
  auto m_a = upload(*be, zeros_packed), v_a = upload(*be, zeros_packed);
  auto m_b = upload(*be, zeros_packed), v_b = upload(*be, zeros_packed);
  std::vector<ParamSegment> grads_at_offset = packed;
  for (ParamSegment& seg : grads_at_offset) seg.grad_at_state = false;
  AdamWParams hp;
  hp.lr = 0.01f;
  hp.weight_decay = 0.1f;
  for (long step = 1; step <= 3; ++step) {
    hp.step = step;
    hp.grad_scale = step == 2 ? 0.5f : 1.0f;
    be->adamw_update(p_a.data(), grad_a.data(), m_a.data(), v_a.data(), grads_at_offset, hp);
    be->adamw_update(p_b.data(), grad_b.data(), m_b.data(), v_b.data(), packed, hp);
  }
  ASSERT_EQ(download(*be, p_a), download(*be, p_b));
  ASSERT_EQ(download(*be, m_a), download(*be, m_b));
  ASSERT_EQ(download(*be, v_a), download(*be, v_b));
}

// Weight decay is what separates the two kinds of segment: with zero gradients (m = v = 0, so the
// Adam term is 0 / (0 + eps) = 0) a decayed parameter shrinks by exactly lr * wd * p and the other
// stays put.
TEST_P(KernelAdamW, DecayOnlyWhereTheSegmentAsksForIt) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const AdamWLayout& layout = std::get<1>(GetParam());
  const std::size_t n = layout.total;
  const std::vector<float> p0 = random_vector(n, 161);
  auto d_p = upload(*be, p0);
  auto d_g = upload(*be, std::vector<float>(n, 0.0f));
  auto d_m = upload(*be, std::vector<float>(n, 0.0f));
  auto d_v = upload(*be, std::vector<float>(n, 0.0f));
  AdamWParams hp;
  hp.lr = 0.5f;
  hp.weight_decay = 0.2f;
  be->adamw_update(d_p.data(), d_g.data(), d_m.data(), d_v.data(), layout.segments, hp);
  std::vector<double> ref(p0.begin(), p0.end());
  for (const ParamSegment& seg : layout.segments) {
    if (!seg.weight_decay) continue;
    for (std::size_t i = seg.offset; i < seg.offset + seg.count; ++i) ref[i] = p0[i] * (1.0 - 0.5 * double(0.2f));
  }
  EXPECT_TRUE(all_close("params", download(*be, d_p), ref, kFp32Optimizer));
}

std::string adamw_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, AdamWLayout>>& info) {
  return std::get<0>(info.param).name + "_" + std::get<1>(info.param).name;
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelAdamW,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kLayouts)),
                         adamw_name);

}  // namespace
}  // namespace strata::ktest
