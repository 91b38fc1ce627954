// device_select.h — which backend a rank computes on, and the communicators that go with it. The CUDA
// backend, on GPU (node-local rank mod visible GPUs), when Strata was built with CUDA and a GPU is
// visible, unless STRATA_BACKEND=cpu; the CPU backend otherwise (STRATA_BACKEND=cuda makes a missing GPU
// an error instead). NCCL groups on the CUDA backend, MPI groups on the CPU backend.
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"
#include "parallel/groups.h"
#include "parallel/topology.h"

namespace strata {

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string reason;  // one line: why this backend (printed by the programs)
};

// `requested`: "", "auto", "cpu" or "cuda" (from STRATA_BACKEND); allow_tf32 from STRATA_CUDA_TF32=1.
// With STRATA_PROFILE_OPS=1 the chosen backend is wrapped in a ProfilingBackend (kernels/profiling_backend.h,
// print its table with profile_report) and the reason ends with " (op profiling on)".
BackendChoice choose_backend(int local_rank, const std::string& requested, bool allow_tf32);
// Whether STRATA_PROFILE_OPS asks for op profiling: "1" yes; unset, "" or "0" no; anything else Error(config).
bool profile_ops_requested();

// The rank's groups for `backend`: NCCL communicators on a CUDA backend, MPI ones otherwise.
ParallelGroups make_groups_for(const Topology& topology, Backend& backend);

}  // namespace strata
