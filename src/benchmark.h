// benchmark.h — strata-train --benchmark: times training steps of the configured model on synthetic
// tokens and measures this machine's sgemm throughput in the same run, printing tokens/s, model
// FLOP/s and their ratio ("MFU vs sgemm"). Prints figures; asserts nothing about speed.
#pragma once

#include "kernels/backend.h"
#include "src/config.h"

namespace strata {

// Runs warmup + timed steps (train.steps of them, at least 2) and prints the report on stdout, followed by
// the per-op table of the timed steps when `backend` is a ProfilingBackend (STRATA_PROFILE_OPS=1).
void run_benchmark(const Config& cfg, Backend& backend, int threads);

}  // namespace strata
