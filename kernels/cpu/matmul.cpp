// matmul.cpp — linear layers on the CPU through CBLAS (row-major; weight (OC, C), out = inp W^T + b).
#include <cblas.h>

#include <algorithm>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_math.h"

namespace strata::cpu {

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int n, int c, int oc) {
  float beta = 0.0f;
  if (bias != nullptr) {
    // Broadcast the bias into out and let the GEMM accumulate onto it (beta = 1): no second pass.
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; ++i) std::copy(bias, bias + oc, out + static_cast<std::size_t>(i) * oc);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, oc, c, 1.0f, inp, c, w, c, beta, out, oc);
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int n,
                     int c, int oc) {
  if (dinp != nullptr) {
    // dinp(N,C) = dout(N,OC) @ W(OC,C)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, c, oc, 1.0f, dout, oc, w, c, 0.0f, dinp, c);
  }
  // dW(OC,C) += dout^T(OC,N) @ inp(N,C)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, oc, c, n, 1.0f, dout, oc, inp, c, 1.0f, dw, c);
  if (dbias != nullptr) bias_grad_accumulate(dbias, dout, n, oc);
}

// Column blocks of kColumnBlock, one per task, rows summed in order: the same bits for any thread count.
void bias_grad_accumulate(float* dbias, const float* dout, int n, int oc) {
  const int blocks = (oc + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int o0 = blk * kColumnBlock;
    const int o1 = std::min(oc, o0 + kColumnBlock);
    float acc[kColumnBlock] = {};
    for (int i = 0; i < n; ++i) {
      const float* row = dout + static_cast<std::size_t>(i) * oc;
#pragma omp simd
      for (int o = o0; o < o1; ++o) acc[o - o0] += row[o];
    }
    for (int o = o0; o < o1; ++o) dbias[o] += acc[o - o0];
  }
}

}  // namespace strata::cpu
