// cuda_backend.h — what other folders may ask of a CUDA backend beyond the Backend interface: its two
// streams (plain C++ header: no device code, usable from .cpp files such as the NCCL communicator).
#pragma once

#include <cuda_runtime.h>

#include "kernels/backend.h"

namespace strata::cuda {

// The compute stream runs every op in order; the communication stream runs collectives, joined to the
// compute stream with events (see parallel/nccl_communicator.h).
struct Streams {
  int device = 0;
  cudaStream_t compute = nullptr;
  cudaStream_t comm = nullptr;
};

// The streams of a backend made by make_cuda_backend; throws Error(internal) for any other backend.
Streams streams_of(Backend& backend);

}  // namespace strata::cuda
