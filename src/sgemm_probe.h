// sgemm_probe.h — measures this rank's CBLAS sgemm throughput, the CPU's practical peak, used as the
// MFU denominator ("MFU vs sgemm") when no peak is configured, and by the benchmark.
#pragma once

namespace strata {

// GFLOP/s of C(m,n) = A(m,k) B(k,n) in fp32, best of repeated calls over at least min_seconds.
double measure_sgemm_gflops(int m, int n, int k, double min_seconds);

}  // namespace strata
