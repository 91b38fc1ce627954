// device.cu — CUDA device discovery (see device.h).
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <sstream>

#include "kernels/cuda/device.h"

namespace strata::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}

std::string describe_devices() {
  std::ostringstream os;
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int nccl = 0;
  ncclGetVersion(&nccl);
  os << "CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", cuBLASLt " << cublasLtGetVersion()
     << ", NCCL " << nccl << "\n";
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    os << "no usable CUDA device: " << cudaGetErrorString(err) << "\n";
    cudaGetLastError();
    return os.str();
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    os << i << ": " << prop.name << ", sm_" << prop.major << prop.minor << ", "
       << (prop.totalGlobalMem >> 30) << " GiB\n";
  }
  return os.str();
}

}  // namespace strata::cuda
