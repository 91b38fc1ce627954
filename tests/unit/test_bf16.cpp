// test_bf16.cpp — the bf16 conversions of kernels/bf16.h against hand-computed bit patterns (ties to
// even, overflow to infinity, NaN stays NaN, subnormals, signed zero), against an independent
// nearest-neighbour reference on a million random bit patterns, and Backend::to_bf16 on every backend
// bit for bit against the shared function.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/bf16.h"

namespace strata::ktest {
namespace {

std::uint16_t bf16_bits_of(std::uint32_t float_bits) { return math::float_to_bf16(math::float_from_bits(float_bits)).bits; }

struct Case {
  std::uint32_t in;
  std::uint16_t out;
  const char* what;
};

// bf16 keeps the upper 16 bits of a float; the low 16 decide the rounding (0x8000 is exactly half an ulp).
const Case kCases[] = {
    {0x3f800000u, 0x3f80u, "1.0 exact"},
    {0x3f807fffu, 0x3f80u, "1.0 + just under half an ulp: down"},
    {0x3f808000u, 0x3f80u, "1.0 + half an ulp, tie, kept part even: down"},
    {0x3f808001u, 0x3f81u, "1.0 + just over half an ulp: up"},
    {0x3f818000u, 0x3f82u, "tie with odd kept part: up to even"},
    {0xbf808000u, 0xbf80u, "negative tie, even: toward zero"},
    {0xbf818000u, 0xbf82u, "negative tie, odd: away from zero"},
    {0x3eaaaaabu, 0x3eabu, "1/3 rounds up"},
    {0x3fffffffu, 0x4000u, "carry out of the mantissa bumps the exponent: 1.99999 -> 2.0"},
    {0x7f7f0000u, 0x7f7fu, "largest finite bf16 exact"},
    {0x7f7f7fffu, 0x7f7fu, "just under the overflow tie: largest finite"},
    {0x7f7f8000u, 0x7f80u, "overflow tie (odd kept part): +inf"},
    {0x7f7fffffu, 0x7f80u, "FLT_MAX: +inf"},
    {0xff7fffffu, 0xff80u, "-FLT_MAX: -inf"},
    {0x7f800000u, 0x7f80u, "+inf"},
    {0xff800000u, 0xff80u, "-inf"},
    {0x7fc00000u, 0x7fc0u, "quiet NaN"},
    {0x7f800001u, 0x7fc0u, "NaN with only low payload bits: stays NaN (not inf)"},
    {0x7fffffffu, 0x7fffu, "NaN with all payload bits: no carry into the sign"},
    {0xff800001u, 0xffc0u, "negative NaN keeps its sign"},
    {0x7fa00000u, 0x7fe0u, "signalling NaN becomes quiet, high payload kept"},
    {0x00000000u, 0x0000u, "+0"},
    {0x80000000u, 0x8000u, "-0"},
    {0x00000001u, 0x0000u, "smallest fp32 subnormal: +0"},
    {0x80000001u, 0x8000u, "smallest negative subnormal: -0"},
    {0x00008000u, 0x0000u, "subnormal tie, even: +0"},
    {0x00008001u, 0x0001u, "just over: smallest bf16 subnormal"},
    {0x00018000u, 0x0002u, "subnormal tie, odd: up"},
    {0x007fffffu, 0x0080u, "largest fp32 subnormal rounds up to the smallest normal"},
    {0x00800000u, 0x0080u, "smallest normal exact"},
};

TEST(Bf16, RoundingMatchesHandComputedBitPatterns) {
  for (const Case& c : kCases)
    EXPECT_EQ(bf16_bits_of(c.in), c.out) << c.what << ": 0x" << std::hex << c.in;
}

TEST(Bf16, WideningIsExact) {
  EXPECT_EQ(math::bf16_to_float(bf16{0x3f80u}), 1.0f);
  EXPECT_EQ(math::bf16_to_float(bf16{0xc040u}), -3.0f);
  EXPECT_EQ(math::bf16_to_float(bf16{0x3eabu}), 0.333984375f);
  EXPECT_EQ(math::bf16_to_float(bf16{0x0001u}), std::ldexp(1.0f, -133));  // smallest bf16 subnormal
  EXPECT_EQ(math::bf16_to_float(bf16{0x7f80u}), std::numeric_limits<float>::infinity());
  EXPECT_EQ(math::bf16_to_float(bf16{0xff80u}), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(math::bf16_to_float(bf16{0x7fc0u})));
  EXPECT_TRUE(std::signbit(math::bf16_to_float(bf16{0x8000u})));
  EXPECT_EQ(math::round_to_bf16(1.0f / 3.0f), 0.333984375f);
}

// Independent reference: the two bf16 neighbours of x (truncation and the next bf16 away from zero), the
// nearer one, the even one on a tie; computed in double from the values, not from the bit trick.
std::uint16_t reference_bf16(float x) {
  const std::uint32_t u = math::float_bits(x);
  const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16);
  const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);  // one ulp further from zero (may be inf)
  const double dlo = std::abs(static_cast<double>(x) - math::bf16_to_float(bf16{lo}));
  // The next bf16 above the largest finite one is inf: compare with where 2^128 would be.
  const double hi_value = (lo & 0x7fffu) == 0x7f7fu ? std::ldexp(1.0, 128) : std::abs(math::bf16_to_float(bf16{hi}));
  const double dhi = std::abs(hi_value - std::abs(static_cast<double>(x)));
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1u) == 0 ? lo : hi;
}

TEST(Bf16, RoundingMatchesNearestEvenReferenceOnRandomBitPatterns) {
  std::mt19937 rng(7);
  int checked = 0;
  for (int i = 0; i < 1000000; ++i) {
    const std::uint32_t u = rng();
    const float x = math::float_from_bits(u);
    if (std::isnan(x) || std::isinf(x)) continue;
    const std::uint16_t got = math::float_to_bf16(x).bits;
    ASSERT_EQ(got, reference_bf16(x)) << "bits 0x" << std::hex << u;
    // Idempotent: a bf16 value converts to itself.
    ASSERT_EQ(math::float_to_bf16(math::bf16_to_float(bf16{got})).bits, got);
    ++checked;
  }
  EXPECT_GT(checked, 990000);
}

// ---- Backend::to_bf16 on every backend ----

class KernelToBf16 : public ::testing::TestWithParam<BackendFactory> {};

TEST_P(KernelToBf16, BitIdenticalToTheSharedRounding) {
  KTEST_BACKEND_OR_SKIP(const auto be, GetParam());
  std::vector<float> x = random_vector(100003, 5, -4.0f, 4.0f);  // odd length: partial blocks
  for (const Case& c : kCases) x.push_back(math::float_from_bits(c.in));
  auto d_x = upload(*be, x);
  DeviceBuffer<bf16> d_y(*be, x.size());
  be->to_bf16(d_y.data(), d_x.data(), x.size());
  const std::vector<bf16> y = download(*be, d_y);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mismatches += y[i].bits != math::float_to_bf16(x[i]).bits;
  EXPECT_EQ(mismatches, 0u);
  be->to_bf16(d_y.data(), d_x.data(), 0);  // n = 0: nothing to do, no launch
  be->synchronize();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelToBf16, ::testing::ValuesIn(backend_factories()), backend_name);

}  // namespace
}  // namespace strata::ktest
