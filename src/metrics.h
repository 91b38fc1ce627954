// metrics.h — per-step metrics (SPEC section 6): one human line on stdout and one JSON object per logged
// step appended to log.metrics, written by rank 0 only.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

namespace strata {

// Payload bytes one rank moved in one step on each of its groups (parallel/groups.h): tensor (tensor-parallel
// all-reduces), pipeline (activations and gradients between stages, the loss sum), data (gradient
// reduction, ZeRO gathers), embedding (the tied wte gradient between first and last stage), model (the
// gradient-norm sum over a replica). Sends and receives both count; bus_bytes() (communicator.h) turns
// payload into link traffic.
struct CommBytes {
  uint64_t tensor = 0, pipeline = 0, data = 0, embedding = 0, model = 0;
  uint64_t total() const { return tensor + pipeline + data + embedding + model; }
};

struct StepMetrics {
  int64_t step = 0;            // 1-based: the number of optimizer steps done
  int64_t total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;          // cumulative tokens trained on
  double step_ms = 0, tokens_per_s = 0, mfu = 0;
  double comm_wait_ms = 0;     // data-parallel reduction time not overlapped with backward
  uint64_t comm_bytes = 0;     // bytes this rank moved in collectives during the step (data group)
  double comm_overlap = 0;     // fraction of the reduced gradient whose reduction finished during backward
  CommBytes comm_bytes_by_group;  // payload bytes this rank moved during the step, per parallel group
  double comm_blocked_ms = 0;  // time blocked in communication on any group (CommStats::blocked_seconds)
  std::optional<double> val_loss;
};

class MetricsLogger {
 public:
  // path empty: no file. Only the rank with enabled=true prints or writes.
  MetricsLogger(const std::string& path, bool enabled);
  void log(const StepMetrics& m);

 private:
  bool enabled_;
  std::string path_;
  std::ofstream file_;
};

}  // namespace strata
