// plan_hardware.h — the machines the planner (strata-plan) models: peak GEMM throughput per precision,
// memory, HBM bandwidth, and the two links a collective can run on (inside a node, between nodes),
// each an alpha-beta pair (latency, bandwidth per GPU and direction).
//
// Built-in figures are the vendors' dense (no sparsity) datasheet peaks: A100 SXM 312 TFLOP/s bf16,
// 19.5 fp32 (156 with TF32); H100/H200 SXM 989 bf16, 1979 fp8, 67 fp32 (494 TF32); NVLink 3 = 300 GB/s
// and NVLink 4 = 450 GB/s per direction; one 200 Gb/s (HDR, A100 DGX) or 400 Gb/s (NDR, H100 DGX)
// InfiniBand port per GPU. What a GEMM or a collective reaches of those peaks is a separate factor
// (gemm_efficiency, link_efficiency), the knobs docs/planner.md calibrates against published runs.
#pragma once

#include <string>
#include <vector>

namespace strata {

struct Hardware {
  std::string name;
  double peak_fp32_tflops = 0, peak_bf16_tflops = 0, peak_fp8_tflops = 0;  // dense, per GPU (or CPU rank)
  double memory_gib = 0;         // per GPU (per rank for CPU nodes)
  double hbm_gbps = 0;           // memory bandwidth, GB/s
  double intra_gbps = 0;         // per GPU and direction inside a node (NVLink), GB/s
  double inter_gbps = 0;         // per GPU and direction between nodes (its NIC share), GB/s
  double intra_latency_us = 0, inter_latency_us = 0;
  int gpus_per_node = 8;
  double gemm_efficiency = 1.0;  // fraction of peak a large GEMM reaches
  double link_efficiency = 1.0;  // fraction of link bandwidth a ring collective reaches (bus bandwidth)
  double reserve_gib = 0;        // memory the framework holds outside the model (context, allocator, comm)

  // Peak of `precision` ("fp32", "bf16" or "fp8"): GEMMs of bf16 training run at the bf16 peak, fp32
  // training at the fp32 peak (no TF32), fp8 at the fp8 peak (where the hardware has none: bf16).
  double peak_tflops(const std::string& precision) const;
};

// a100-40gb, a100-80gb, h100-sxm, h200, cpu.
std::vector<std::string> hardware_names();

// A built-in machine by name (case-insensitive); Error{config} naming the known ones otherwise. "cpu"
// is one CPU rank: its peak is 0 (the caller measures sgemm or takes --peak-tflops), gemm_efficiency 1
// (the peak is already what sgemm reaches), links are shared-memory MPI.
Hardware builtin_hardware(const std::string& name);

// Sets one field from a command-line option (without the leading "--"): peak-tflops (the peak of
// `precision`), memory-gib, hbm-gbps, intra-gbps, inter-gbps, intra-latency-us, inter-latency-us,
// gpus-per-node, gemm-efficiency, link-efficiency, reserve-gib. Returns false for another name;
// Error{config} for a value that is not a positive number.
bool set_hardware_option(Hardware& hw, const std::string& option, const std::string& value,
                         const std::string& precision);
// The option names set_hardware_option takes, for --help.
const char* hardware_options_help();

// One line: "H100-SXM: 989 TFLOP/s bf16, 80 GiB, HBM 3350 GB/s, NVLink 450 GB/s, IB 50 GB/s, 8 per node".
std::string describe(const Hardware& hw);

}  // namespace strata
