// device.h — CUDA device discovery. Queries only: no CUDA compute backend exists yet, and nothing
// here pretends to run a model on a GPU.
#pragma once

#include <string>

namespace strata::cuda {

// Number of visible CUDA devices; 0 when there is no GPU or no usable driver (never throws).
int device_count();

// One line per visible device ("0: NVIDIA H200, sm_90, 139 GiB"), or why none is usable; includes the
// CUDA runtime, cuBLASLt and NCCL versions the build links.
std::string describe_devices();

}  // namespace strata::cuda
