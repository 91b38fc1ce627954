// device_select.cpp — backend and communicator choice (see device_select.h).
#include "src/device_select.h"

#include <cstdlib>

#include "kernels/error.h"
#include "kernels/profiling_backend.h"
#include "parallel/mpi_communicator.h"
#if defined(STRATA_WITH_CUDA)
#include "parallel/nccl_communicator.h"
#endif

namespace strata {

namespace {

BackendChoice choose_unprofiled(int local_rank, const std::string& requested, bool allow_tf32) {
  STRATA_CHECK(requested.empty() || requested == "auto" || requested == "cpu" || requested == "cuda", config,
               "STRATA_BACKEND must be auto, cpu or cuda, found '", requested, "'");
  if (requested == "cpu") return {make_cpu_backend(), "cpu (STRATA_BACKEND=cpu)"};
  if (!cuda_backend_built()) {
    STRATA_CHECK(requested != "cuda", config, "STRATA_BACKEND=cuda but Strata was built without CUDA");
    return {make_cpu_backend(), "cpu (built without CUDA)"};
  }
  const int gpus = cuda_device_count();
  if (gpus == 0) {
    STRATA_CHECK(requested != "cuda", config, "STRATA_BACKEND=cuda but no CUDA device is visible");
    return {make_cpu_backend(), "cpu (built with CUDA, but no GPU visible)"};
  }
  const int device = local_rank % gpus;
  auto backend = make_cuda_backend(CudaOptions{device, allow_tf32});
  return {std::move(backend), "cuda: GPU " + std::to_string(device) + " of " + std::to_string(gpus) +
                                  " on this node (node-local rank " + std::to_string(local_rank) + ")"};
}

}  // namespace

bool profile_ops_requested() {
  const char* env = std::getenv("STRATA_PROFILE_OPS");
  const std::string value = env != nullptr ? env : "";
  STRATA_CHECK(value.empty() || value == "0" || value == "1", config,
               "STRATA_PROFILE_OPS must be 1 (time every backend op) or 0, found '", value, "'");
  return value == "1";
}

BackendChoice choose_backend(int local_rank, const std::string& requested, bool allow_tf32) {
  const bool profile = profile_ops_requested();  // a bad value fails before a device is set up
  BackendChoice choice = choose_unprofiled(local_rank, requested, allow_tf32);
  if (profile) {
    choice.backend = make_profiling_backend(std::move(choice.backend));
    choice.reason += " (op profiling on)";
  }
  return choice;
}

ParallelGroups make_groups_for(const Topology& topology, Backend& backend) {
#if defined(STRATA_WITH_CUDA)
  // The communicators run on the CUDA backend's own streams: under op profiling, the wrapped backend's.
  if (backend.kind() == DeviceKind::cuda) return make_nccl_groups(topology, unprofiled(backend));
#endif
  return make_mpi_groups(topology);
}

}  // namespace strata
