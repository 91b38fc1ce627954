// plan_hardware.cpp — see plan_hardware.h.
#include "src/plan_hardware.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "kernels/error.h"

namespace strata {

double Hardware::peak_tflops(const std::string& precision) const {
  if (precision == "fp8") return peak_fp8_tflops > 0 ? peak_fp8_tflops : peak_bf16_tflops;
  if (precision == "bf16") return peak_bf16_tflops > 0 ? peak_bf16_tflops : peak_fp32_tflops;
  return peak_fp32_tflops;
}

std::vector<std::string> hardware_names() { return {"a100-40gb", "a100-80gb", "h100-sxm", "h200", "cpu"}; }

Hardware builtin_hardware(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Hardware h;
  // gemm_efficiency 0.70: what the whole step's GEMMs reach of the datasheet peak (kernel efficiency,
  // launch gaps, imbalance), set so that the Megatron-LM GPT-3 175B run on 1024 A100s (MegaScale,
  // Table 2) and NeMo's 128-H100 figure come out within a few percent; the other published figures in
  // docs/planner.md are out-of-sample checks. link_efficiency 0.80: NCCL ring bus bandwidth over line
  // rate (nccl-tests). reserve: CUDA context, NCCL buffers, allocator slack.
  if (n == "a100-40gb" || n == "a100-80gb") {
    const bool big = n == "a100-80gb";
    h = {big ? "A100-80GB" : "A100-40GB", 19.5, 312, 0, big ? 80.0 : 40.0, big ? 2039.0 : 1555.0, 300, 25, 3, 8, 8,
         0.70, 0.80, 3.0};
  } else if (n == "h100-sxm" || n == "h100") {
    h = {"H100-SXM", 67, 989, 1979, 80, 3350, 450, 50, 3, 8, 8, 0.70, 0.80, 3.0};
  } else if (n == "h200") {
    h = {"H200", 67, 989, 1979, 141, 4800, 450, 50, 3, 8, 8, 0.70, 0.80, 3.0};
  } else if (n == "cpu") {
    // One MPI rank on a CPU node: links are shared memory (a few GB/s per rank through MPI copies).
    // gemm_efficiency 0.3: small models' GEMMs and the hand-written attention, LayerNorm and GELU
    // kernels reach about that fraction of the sgemm peak (gpt-tiny on 2 shared cores); --calibrate
    // prints the value that matches a measured run.
    h = {"CPU", 0, 0, 0, 16, 20, 5, 1.25, 2, 20, 1 << 20, 0.3, 1.0, 0.0};
  } else {
    std::string known;
    for (const auto& k : hardware_names()) known += (known.empty() ? "" : ", ") + k;
    STRATA_THROW(config, "--hardware: unknown machine '", name, "', expected one of ", known,
                 " (or adjust one with --peak-tflops, --memory-gib, --hbm-gbps, --intra-gbps, --inter-gbps, ...)");
  }
  return h;
}

bool set_hardware_option(Hardware& hw, const std::string& option, const std::string& value,
                         const std::string& precision) {
  double* field = nullptr;
  if (option == "peak-tflops") field = precision == "fp8" ? &hw.peak_fp8_tflops : precision == "bf16" ? &hw.peak_bf16_tflops
                                                                                                       : &hw.peak_fp32_tflops;
  else if (option == "memory-gib") field = &hw.memory_gib;
  else if (option == "hbm-gbps") field = &hw.hbm_gbps;
  else if (option == "intra-gbps") field = &hw.intra_gbps;
  else if (option == "inter-gbps") field = &hw.inter_gbps;
  else if (option == "intra-latency-us") field = &hw.intra_latency_us;
  else if (option == "inter-latency-us") field = &hw.inter_latency_us;
  else if (option == "gemm-efficiency") field = &hw.gemm_efficiency;
  else if (option == "link-efficiency") field = &hw.link_efficiency;
  else if (option == "reserve-gib") field = &hw.reserve_gib;
  else if (option != "gpus-per-node") return false;
  double v = 0;
  std::size_t used = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool zero_ok = option == "reserve-gib" || option.find("latency") != std::string::npos;
  STRATA_CHECK(used == value.size() && !value.empty() && (v > 0 || (zero_ok && v == 0)), config, "--", option,
               ": expected a ", zero_ok ? "non-negative" : "positive", " number, found '", value, "'");
  if (field != nullptr) *field = v;
  else hw.gpus_per_node = static_cast<int>(v);
  return true;
}

const char* hardware_options_help() {
  return "  --peak-tflops X        peak TFLOP/s per GPU of the precision in use (cpu: default measured sgemm)\n"
         "  --memory-gib X         memory per GPU\n"
         "  --hbm-gbps X           memory bandwidth, GB/s\n"
         "  --intra-gbps X         per-GPU bandwidth inside a node, GB/s per direction\n"
         "  --inter-gbps X         per-GPU bandwidth between nodes, GB/s per direction\n"
         "  --intra-latency-us X   --inter-latency-us X   link latencies\n"
         "  --gpus-per-node N      GPUs (ranks) per node\n"
         "  --gemm-efficiency X    fraction of peak a large GEMM reaches\n"
         "  --link-efficiency X    fraction of link bandwidth a ring collective reaches\n"
         "  --reserve-gib X        memory held outside the model (context, communication, allocator)\n";
}

std::string describe(const Hardware& h) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s: %.4g TFLOP/s bf16 (%.4g fp32, %.4g fp8), %.0f GiB, HBM %.0f GB/s, intra-node %.1f GB/s "
                "(%.1f us), inter-node %.2f GB/s (%.1f us), %d per node, GEMM efficiency %.2f, link efficiency %.2f",
                h.name.c_str(), h.peak_bf16_tflops, h.peak_fp32_tflops, h.peak_fp8_tflops, h.memory_gib, h.hbm_gbps,
                h.intra_gbps, h.intra_latency_us, h.inter_gbps, h.inter_latency_us, h.gpus_per_node, h.gemm_efficiency,
                h.link_efficiency);
  return buf;
}

}  // namespace strata
