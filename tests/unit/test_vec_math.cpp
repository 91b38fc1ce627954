// fast_expf against libm over the whole range the kernels use.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/vec_math.h"

TEST(VecMath, FastExpMatchesLibmWithinFewUlp) {
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const float ref = std::exp(x);
    EXPECT_NEAR(strata::cpu::fast_expf(x), ref, 3e-7f * ref) << "x=" << x;
  }
  EXPECT_FLOAT_EQ(strata::cpu::fast_expf(0.0f), 1.0f);
}

TEST(VecMath, FastExpSaturates) {
  EXPECT_LT(strata::cpu::fast_expf(-std::numeric_limits<float>::infinity()), 1e-37f);
  EXPECT_LT(strata::cpu::fast_expf(-1000.0f), 1e-37f);
  EXPECT_GT(strata::cpu::fast_expf(1000.0f), 1e38f);
}
