// backend_availability.cpp — whether this build has the CUDA backend, and the stand-ins for its factory
// and device count in a build without CUDA (with CUDA they live in kernels/cuda/cuda_backend.cu).
#include "kernels/backend.h"
#include "kernels/error.h"

namespace strata {

#if defined(STRATA_WITH_CUDA)
bool cuda_backend_built() { return true; }
#else
bool cuda_backend_built() { return false; }

std::unique_ptr<Backend> make_cuda_backend(const CudaOptions&) {
  STRATA_THROW(config, "the CUDA backend was requested but Strata was built without CUDA "
                       "(configure with -DSTRATA_CUDA=ON on a machine with the CUDA toolkit and NCCL)");
}

int cuda_device_count() { return 0; }
#endif

}  // namespace strata
