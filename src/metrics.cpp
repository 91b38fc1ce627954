// metrics.cpp — see metrics.h.
#include "src/metrics.h"

#include <nlohmann/json.hpp>

#include <cstdio>

#include "kernels/error.h"

namespace strata {

MetricsLogger::MetricsLogger(const std::string& path, bool enabled) : enabled_(enabled), path_(path) {
  if (!enabled_ || path_.empty()) return;
  file_.open(path_, std::ios::app);
  STRATA_CHECK(file_.good(), config, "log.metrics: cannot open ", path_, " for appending");
}

void MetricsLogger::log(const StepMetrics& m) {
  if (!enabled_) return;
  std::printf("step %6lld/%lld | loss %.4f | lr %.3e | grad_norm %.4f | %8.1f ms | %9.1f tok/s | mfu %5.1f%%",
              static_cast<long long>(m.step), static_cast<long long>(m.total_steps), m.loss, m.lr, m.grad_norm,
              m.step_ms, m.tokens_per_s, 100.0 * m.mfu);
  const CommBytes& b = m.comm_bytes_by_group;
  if (b.total() > 0)
    std::printf(" | comm MB tp %.2f pp %.2f dp %.2f emb %.2f", b.tensor / 1e6, b.pipeline / 1e6, b.data / 1e6,
                b.embedding / 1e6);
  if (m.comm_bytes > 0)
    std::printf(" | dp %.0f%% in backward, wait %.1f ms", 100.0 * m.comm_overlap, m.comm_wait_ms);
  if (b.total() > 0) std::printf(" | blocked %.1f ms", m.comm_blocked_ms);
  if (m.val_loss) std::printf(" | val_loss %.4f", *m.val_loss);
  std::printf("\n");
  std::fflush(stdout);
  if (!file_.is_open()) return;
  nlohmann::json j = {{"step", m.step},   {"loss", m.loss},       {"lr", m.lr},
                      {"grad_norm", m.grad_norm}, {"tokens", m.tokens}, {"step_ms", m.step_ms},
                      {"tokens_per_s", m.tokens_per_s}, {"mfu", m.mfu}};
  j["comm_wait_ms"] = m.comm_wait_ms;
  j["comm_bytes"] = m.comm_bytes;
  j["comm_overlap"] = m.comm_overlap;
  j["comm_blocked_ms"] = m.comm_blocked_ms;
  j["comm_bytes_by_group"] = {{"tensor", b.tensor},       {"pipeline", b.pipeline}, {"data", b.data},
                              {"embedding", b.embedding}, {"model", b.model}};
  if (m.val_loss) j["val_loss"] = *m.val_loss;
  file_ << j.dump() << '\n';
  file_.flush();
  STRATA_CHECK(file_.good(), internal, "log.metrics: write to ", path_, " failed");
}

}  // namespace strata
