// benchmark.cpp — see benchmark.h.
#include "src/benchmark.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "kernels/profiling_backend.h"
#include "src/gemm_probe.h"
#include "src/sgemm_probe.h"
#include "src/trainer.h"

namespace strata {

void run_benchmark(const Config& cfg, Backend& backend, int threads) {
  const GptShape shape = cfg.shape();
  const int bt = cfg.train.micro_batch * shape.seq_len, c = shape.hidden;
  // The GEMM ceiling of this machine, on the model's own GEMM shapes (MLP up, attention projection, output
  // projection) and on a large square one; the best is the denominator. CPU: the CBLAS sgemm. GPU: the
  // backend's own GEMM in the run's precision (cuBLASLt; bf16 operands for train.precision=bf16).
  struct Shape { int m, n, k; const char* what; };
  const std::vector<Shape> shapes = {{bt, 4 * c, c, "mlp up"}, {bt, c, c, "attn proj"},
                                     {bt, std::min(shape.padded_vocab(), 8192), c, "logits"}, {2048, 2048, 2048, "square"}};
  const bool on_device = backend.kind() != DeviceKind::cpu, bf16 = cfg.train.precision == "bf16";
  const char* gemm_name = !on_device ? "sgemm" : bf16 ? "bf16 gemm" : "fp32 gemm";
  double sgemm = 0.0;
  std::printf("benchmark: %s, %d threads per rank, precision %s%s\n", backend.name().c_str(), threads,
              cfg.train.precision.c_str(), bf16 && !on_device ? " (bf16 GEMMs emulated in fp32)" : "");
  for (const Shape& s : shapes) {
    const double g = on_device ? measure_backend_gemm_gflops(backend, bf16, s.m, s.k, s.n, 0.2)
                               : measure_sgemm_gflops(s.m, s.n, s.k, 0.5);
    std::printf("  %-9s %-10s %5d x %5d x %5d : %8.1f GFLOP/s\n", gemm_name, s.what, s.m, s.n, s.k, g);
    sgemm = std::max(sgemm, g);
  }
  Trainer trainer(cfg, backend, make_synthetic_source(shape.seq_len, shape.vocab_size, cfg.train.seed), nullptr,
                  sgemm * 1e9);
  const int64_t steps = std::max<int64_t>(2, cfg.train.steps);
  StepMetrics warm = trainer.step();  // first step pays page faults and BLAS buffer set-up
  std::printf("  warm-up step: %.1f ms, loss %.4f\n", warm.step_ms, warm.loss);
  profile_reset(backend);  // under STRATA_PROFILE_OPS=1 the op table covers the timed steps only
  double total_ms = 0.0;
  int64_t tokens = 0;
  for (int64_t i = 1; i < steps; ++i) {
    const StepMetrics m = trainer.step();
    total_ms += m.step_ms;
    tokens += static_cast<int64_t>(cfg.train.global_batch) * shape.seq_len;
    std::printf("  step %lld: %.1f ms, loss %.4f\n", static_cast<long long>(i + 1), m.step_ms, m.loss);
  }
  const double tok_s = tokens / (total_ms / 1e3);
  const double flops = tok_s * gpt_flops_per_token(shape);
  std::printf("model: %d layers, hidden %d, heads %d, seq %d, vocab %d (padded %d), %.2fM parameters\n", shape.layers,
              shape.hidden, shape.heads, shape.seq_len, shape.vocab_size, shape.padded_vocab(),
              gpt_parameter_count(shape) / 1e6);
  std::printf("batch: %d x %d tokens per step (micro-batch %d)\n", cfg.train.global_batch, shape.seq_len,
              cfg.train.micro_batch);
  const double activation_mib = static_cast<double>(trainer.model().activation_bytes()) / (1024.0 * 1024.0);
  std::printf("memory: activations %.1f MiB (micro-batch %d, %s)\n", activation_mib, cfg.train.micro_batch,
              precision_name(trainer.model().precision()));
  std::printf("RESULT tokens_per_s=%.1f model_gflops=%.1f sgemm_gflops=%.1f mfu_vs_sgemm=%.3f step_ms=%.1f "
              "activation_mib=%.1f\n",
              tok_s, flops / 1e9, sgemm, flops / (sgemm * 1e9), total_ms / static_cast<double>(steps - 1),
              activation_mib);
  std::fputs(profile_report(backend, steps - 1).c_str(), stdout);
}

}  // namespace strata
