// matmul.cuh — the linear layer on cuBLASLt (semantics in kernels/backend.h): row-major
// out(N,OC) = inp(N,C) @ w(OC,C)^T + bias, seen by column-major cuBLAS as out^T = w^T-view x inp^T-view.
//   forward  D(OC,N)  = op_T(w: C x OC) * inp(C x N), bias through the BIAS epilogue
//   dinp     D(C,N)   = w(C x OC) * dout(OC x N)
//   dw       D(C,OC) += inp(C x N) * op_T(dout: OC x N)            (beta = 1: accumulate)
//   dbias    column sums of dout, deterministic (reduce.cuh)
// fp32 inputs and outputs; compute in fp32 (CUBLAS_COMPUTE_32F), or TF32 tensor cores when the backend
// was created with allow_tf32 (faster, ~1e-3 relative error: not used by the tests).
// The bf16 variants (train.precision=bf16) take the weight and the activation in bf16 as they are stored
// (CUDA_R_16BF A and B, CUBLAS_COMPUTE_32F: tensor cores, fp32 accumulation); only the fp32 output gradient
// is rounded to bf16, in allocator scratch (pointwise.cuh to_bf16; no cudaMalloc once the cache is warm).
// D is fp32, or bf16 (CUDA_R_16BF): cuBLASLt adds the fp32 bias (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE set to
// CUDA_R_32F; its default would be D's type) to the fp32 sum and rounds once to bf16 (round to nearest even,
// as math::float_to_bf16). Where cuBLASLt offers no algorithm for a bf16 D, the GEMM runs into fp32 scratch
// (bias included) and a kernel rounds it: never a bias added after rounding. dbias is the column sum of the
// fp32 dout. The chosen algorithm is cached per problem (D's type included); cuBLASLt is deterministic for a
// fixed algorithm, stream and workspace, so repeated steps give the same bits.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/bf16.h"
#include "kernels/cuda/device_allocator.cuh"

namespace strata::cuda {

class Matmul {
 public:
  Matmul(cudaStream_t stream, bool allow_tf32, DeviceAllocator& alloc);
  ~Matmul();
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;

  void forward(float* out, const float* inp, const float* w, const float* bias, int n, int c, int oc);
  void backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int n,
                int c, int oc);
  // out = inp w^T + bias, fp32 or rounded once to bf16.
  void forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc);
  void forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc);
  void backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w, int n,
                     int c, int oc);
  // The MLP's fc GEMM with its GELU (Backend::matmul_gelu_forward_bf16): CUBLASLT_EPILOGUE_GELU_AUX_BIAS
  // with a bf16 D writes out = bf16(gelu(p)) and the GELU input pre = bf16(p) (the aux matrix, whose type
  // defaults to D's) of the fp32 p = inp w^T + bias in one GEMM; where cuBLASLt offers no algorithm (or the
  // aux leading dimension is not a multiple of 8) p goes to fp32 scratch and one kernel of pointwise.cuh
  // writes both.
  void gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                         int oc);

 private:
  // The GEMMs' operand (A, B) type: fp32 (CUDA_R_32F) or bf16 (CUDA_R_16BF). D (and C, the same matrix)
  // has its own type; the bias is fp32.
  struct Operands {
    cudaDataType_t type;
    cublasComputeType_t compute;
    std::uint32_t element_bytes;
  };
  Operands fp32() const { return {CUDA_R_32F, compute_, 4}; }
  static Operands bf16_operands() { return {CUDA_R_16BF, CUBLAS_COMPUTE_32F, 2}; }
  // The output matrix D: column-major with leading dimension ld, fp32 or bf16.
  struct Output {
    void* d;
    cudaDataType_t type;
    int ld;
  };
  // What runs after the product: the bias (bias(m) broadcast over columns) and optionally the GELU, which
  // also writes its input to the aux matrix (D's type, column-major m x n with leading dimension aux_ld).
  enum class Gelu { none, forward };
  struct Epilogue {
    const float* bias = nullptr;
    Gelu gelu = Gelu::none;
    void* aux = nullptr;  // GELU input, written by Gelu::forward
    int aux_ld = 0;
  };
  // D(m,n) = op(A) op(B) (+ beta D) (+ bias(m) broadcast over columns), column-major, fp32 D.
  void gemm(Operands ops, bool trans_a, bool trans_b, int m, int n, int k, const void* a, int lda, const void* b,
            int ldb, float* d, int ldd, float beta, const float* bias);
  // The same with any output type and epilogue; false when cuBLASLt has no algorithm for it (or refuses the
  // plan the first time it would run it: the caller's fallback takes the problem from then on).
  bool try_gemm(Operands ops, bool trans_a, bool trans_b, int m, int n, int k, const void* a, int lda, const void* b,
                int ldb, Output out, float beta, const Epilogue& epilogue);
  // The degenerate shapes (no rows, no reduction): handled without cuBLASLt; true when there was one.
  bool forward_degenerate(float* out, const float* bias, int n, int c, int oc);
  bool backward_degenerate(float* dinp, int n, int c, int oc);

  // (A/B type, D type, trans_a, trans_b, m, n, k, lda, ldb, ldd, beta != 0, bias, alignments, GELU, aux alignment)
  using Key = std::tuple<int, int, bool, bool, int, int, int, int, int, int, bool, bool, int, int, int>;
  struct Plan {
    bool found = false;
    bool ran = false;  // cublasLtMatmul has accepted it once
    cublasLtMatmulAlgo_t algo{};
  };

  cudaStream_t stream_;
  DeviceAllocator& alloc_;
  cublasComputeType_t compute_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace strata::cuda
