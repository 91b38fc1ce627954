// matmul.cuh — the linear layer on cuBLASLt (semantics in kernels/backend.h): row-major
// out(N,OC) = inp(N,C) @ w(OC,C)^T + bias, seen by column-major cuBLAS as out^T = w^T-view x inp^T-view.
//   forward  D(OC,N)  = op_T(w: C x OC) * inp(C x N), bias through the BIAS epilogue
//   dinp     D(C,N)   = w(C x OC) * dout(OC x N)
//   dw       D(C,OC) += inp(C x N) * op_T(dout: OC x N)            (beta = 1: accumulate)
//   dbias    column sums of dout, deterministic (reduce.cuh)
// fp32 inputs and outputs; compute in fp32 (CUBLAS_COMPUTE_32F), or TF32 tensor cores when the backend
// was created with allow_tf32 (faster, ~1e-3 relative error: not used by the tests). The chosen
// algorithm is cached per problem; cuBLASLt is deterministic for a fixed algorithm, stream and
// workspace, so repeated steps give the same bits.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

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

 private:
  // D(m,n) = op(A) op(B) (+ beta D) (+ bias(m) broadcast over columns), column-major.
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
            float* d, int ldd, float beta, const float* bias);
  bool try_gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                float* d, int ldd, float beta, const float* bias);

  using Key = std::tuple<bool, bool, int, int, int, int, int, int, bool, bool, int>;
  struct Plan {
    bool found = false;
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
