// device_select.cpp — backend and communicator choice (see device_select.h).
#include "src/device_select.h"

#include "kernels/error.h"
#include "parallel/mpi_communicator.h"
#if defined(STRATA_WITH_CUDA)
#include "parallel/nccl_communicator.h"
#endif

namespace strata {

BackendChoice choose_backend(int local_rank, const std::string& requested, bool allow_tf32) {
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

ParallelGroups make_groups_for(const Topology& topology, Backend& backend) {
#if defined(STRATA_WITH_CUDA)
  if (backend.kind() == DeviceKind::cuda) return make_nccl_groups(topology, backend);
#endif
  return make_mpi_groups(topology);
}

}  // namespace strata
