// gemm_probe.h — measures a backend's own GEMM throughput (the linear layer's matmul_forward, or
// matmul_forward_bf16 for train.precision=bf16) on the device: the practical ceiling that the benchmark
// and the MFU log of a GPU run compare against, measured in the same run.
#pragma once

#include "kernels/backend.h"

namespace strata {

// GFLOP/s of out(n,oc) = inp(n,c) @ W(oc,c)^T on `backend`, best of repeated calls over at least
// min_seconds (each call timed between two synchronize()s).
double measure_backend_gemm_gflops(Backend& backend, bool use_bf16, int n, int c, int oc, double min_seconds);

}  // namespace strata
