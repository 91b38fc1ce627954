// counter_rng.h — counter-based random numbers: every value is a pure function of (seed, stream, index),
// so any rank, thread or device computes the same value for the same element without shared state.
// Used by parameter initialization (src/param_init) and the sample permutation (io/sample_order).
#pragma once

#include <cmath>
#include <cstdint>

namespace strata {

// SplitMix64 finalizer: a bijective 64-bit mix with full avalanche.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The standard normal value number `index` of stream `stream` under `seed` (Box-Muller on two
// SplitMix64 draws; deterministic on every platform with IEEE double).
inline float counter_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t a = splitmix64(seed ^ splitmix64(stream ^ splitmix64(index)));
  const uint64_t b = splitmix64(a);
  const double u1 = (static_cast<double>(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;          // [0, 1)
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

}  // namespace strata
