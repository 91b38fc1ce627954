// cuda_check.cuh — checked CUDA, cuBLAS(Lt) and NCCL calls: every failing call throws an internal
// strata::Error naming the call, the library's error string and the file:line of the call (llm.c's
// cudaCheck / cublasCheck / ncclCheck, but throwing instead of exiting: only main picks exit codes).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/error.h"

#define CUDA_CHECK(call)                                                                             \
  do {                                                                                               \
    const cudaError_t strata_cuda_rc_ = (call);                                                      \
    if (strata_cuda_rc_ != cudaSuccess) {                                                            \
      STRATA_THROW(internal, #call, " failed: ", cudaGetErrorName(strata_cuda_rc_), ": ",            \
                   cudaGetErrorString(strata_cuda_rc_));                                             \
    }                                                                                                \
  } while (0)

// Checks the launch of the kernel just enqueued (bad configuration, too much shared memory).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(call)                                                                           \
  do {                                                                                               \
    const cublasStatus_t strata_cublas_rc_ = (call);                                                 \
    if (strata_cublas_rc_ != CUBLAS_STATUS_SUCCESS) {                                                \
      STRATA_THROW(internal, #call, " failed: cuBLAS status ", static_cast<int>(strata_cublas_rc_), " (", \
                   cublasGetStatusString(strata_cublas_rc_), ")");                                   \
    }                                                                                                \
  } while (0)

namespace strata::cuda {

// Blocks of `threads` covering n items (n may be 0: one block, whose threads all fall out of range).
inline unsigned int blocks_for(std::size_t n, unsigned int threads) {
  const std::size_t b = (n + threads - 1) / threads;
  return static_cast<unsigned int>(b == 0 ? 1 : b);
}

}  // namespace strata::cuda
