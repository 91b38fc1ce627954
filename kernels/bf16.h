// bf16.h — the bfloat16 storage type (train.precision=bf16) and its conversions, written once as
// __host__ __device__ functions: the CPU backend's bf16 emulation and the CUDA conversion kernels call
// the same code, so the CPU tests exercise the rounding the GPU does.
//
// bf16 is the upper half of an IEEE binary32: sign, the same 8 exponent bits, 7 mantissa bits. Hence
//  - bf16 -> float is exact (append 16 zero bits);
//  - float -> bf16 rounds the low 16 bits away, to nearest with ties to even. A carry out of the
//    mantissa bumps the exponent, which is exactly right (1.11..1 x 2^e rounds up to 1.0 x 2^(e+1)),
//    and past the largest finite bf16 (0x7f7f, ~3.39e38) it yields infinity. Subnormals round the same
//    way (the pattern arithmetic does not care), so bf16 keeps fp32's whole range. NaN is the one
//    case the carry would break (a NaN whose payload lies in the low bits would turn into infinity):
//    it becomes the quiet NaN with the same sign and high payload bits;
//  - the product of two bf16 values (8-bit significands) has at most 16 significant bits, so it is
//    exact in fp32: a GEMM on bf16 operands with fp32 accumulation (tensor cores, CUBLAS_COMPUTE_32F)
//    equals an fp32 GEMM on the bf16-rounded operands, up to the order of the additions.
// The layout is that of CUDA's __nv_bfloat16 (one 16-bit word), so device buffers of bf16 are passed to
// cuBLASLt as CUDA_R_16BF.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/pointwise_math.h"  // STRATA_HD

namespace strata {

struct bf16 {
  std::uint16_t bits;
};
static_assert(sizeof(bf16) == 2, "bf16 is one 16-bit word");

namespace math {

STRATA_HD std::uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

STRATA_HD float float_from_bits(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// Round to nearest, ties to even; NaN stays NaN (quiet); overflow gives infinity (see the top).
STRATA_HD bf16 float_to_bf16(float f) {
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  // Adding 0x7fff carries into bit 16 exactly when the low half is above one half ulp; the lowest kept
  // bit adds the last 1 on a tie, so a tie carries only when the kept part is odd (ties to even).
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(rounded >> 16)};
}

STRATA_HD float bf16_to_float(bf16 h) { return float_from_bits(static_cast<std::uint32_t>(h.bits) << 16); }

// The float nearest to f that a bf16 can hold (what a GEMM's bf16 operand is).
STRATA_HD float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

}  // namespace math
}  // namespace strata
