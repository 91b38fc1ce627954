// plan_calibrate.h — strata-plan --calibrate: the prediction of a configuration and layout next to a
// measured run of it (the log.metrics JSONL of strata-train, SPEC section 6), component by component,
// with the relative error (predicted - measured) / measured of each.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/plan_time.h"

namespace strata {

// What a metrics file says about the steady state: medians over the logged steps (the first logged
// step is left out when there are others: it pays for warm-up), the last step's byte count.
struct MeasuredRun {
  int steps = 0;
  double step_ms = 0, comm_wait_ms = 0, tokens_per_s = 0, mfu = 0;
  double comm_bytes = 0;  // the data group's payload (comm_bytes)
  // Payload per group (comm_bytes_by_group) and time blocked in communication (comm_blocked_ms), when the
  // file has them.
  bool has_groups = false;
  double tensor_bytes = 0, pipeline_bytes = 0, embedding_bytes = 0, blocked_ms = 0;
  // The per-rank peak FLOP/s the run divided by for its MFU (0 when the file has no MFU).
  double peak_flops_per_rank(double flops_per_token, int ranks) const;
};

// Reads a metrics JSONL file. Error{data} (exit 3) naming the file and line when it is unreadable,
// empty, or a line lacks step_ms / tokens_per_s.
MeasuredRun read_metrics(const std::string& path);

struct CalibrationRow {
  std::string component, unit;
  double predicted = 0, measured = 0;
  double error() const { return measured != 0 ? (predicted - measured) / measured : 0.0; }
};

// Step time; compute and bubble (step minus exposed data-parallel wait); the exposed gradient
// reduction; time blocked in communication (transfers on the critical path and waiting for pipeline
// peers: the bubble); payload bytes per step of rank 0 (pipeline stage 0) on the data, tensor,
// pipeline and embedding groups; tokens/s; MFU. Rows the file has no measurement for are left out.
std::vector<CalibrationRow> calibrate(const StepPrediction& p, const MeasuredRun& m);

// The GEMM efficiency that would make the predicted compute (row 2) match the measured one, scaling
// `gemm_efficiency` (exact when the step is compute-bound, a first guess otherwise).
double fitted_gemm_efficiency(const std::vector<CalibrationRow>& rows, double gemm_efficiency);

std::string format_calibration(const std::vector<CalibrationRow>& rows, const MeasuredRun& m, double gemm_efficiency);
nlohmann::json calibration_json(const std::vector<CalibrationRow>& rows, const MeasuredRun& m, double gemm_efficiency);

}  // namespace strata
