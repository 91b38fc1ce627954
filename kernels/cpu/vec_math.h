// vec_math.h — small helpers for CPU loops that must vectorize: an expf that GCC inlines into SIMD
// code (libm's expf only vectorizes under -ffast-math), and the fixed column blocking that keeps
// reductions over rows deterministic.
#pragma once

#include <bit>
#include <cstdint>

namespace strata::cpu {

// exp(x) for float, max relative error ~2 ulp over the normal range; exp(-inf) = 0, large x -> inf.
// Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r.
inline float fast_expf(float x) {
  x = x < -87.3f ? -87.3f : x;   // below this e^x is subnormal/0; clamp keeps 2^k representable
  x = x > 88.7f ? 88.7f : x;
  // Round to nearest by adding 1.5 * 2^23 (exact for |v| < 2^22): unlike roundevenf, GCC vectorizes it.
  constexpr float kRound = 12582912.0f;
  const float k = (x * 1.44269504088896341f + kRound) - kRound;
  float r = x - k * 0.693359375f;  // ln2 split into a high part exact in float ...
  r = r - k * -2.12194440e-4f;     // ... and the low remainder
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
}

// Columns are reduced in blocks of this many floats: each OpenMP thread owns whole blocks and sums
// rows in order, so the result is independent of the thread count and needs no atomics.
constexpr int kColumnBlock = 256;

}  // namespace strata::cpu
