// plan_calibrate.cpp — see plan_calibrate.h.
#include "src/plan_calibrate.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/error.h"

namespace strata {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

double MeasuredRun::peak_flops_per_rank(double flops_per_token, int ranks) const {
  return mfu > 0 ? tokens_per_s * flops_per_token / (static_cast<double>(ranks) * mfu) : 0.0;
}

MeasuredRun read_metrics(const std::string& path) {
  std::ifstream in(path);
  STRATA_CHECK(in.good(), data, "--calibrate ", path, ": cannot be opened (a log.metrics JSONL file of strata-train)");
  std::vector<double> step_ms, wait_ms, tps, mfu, blocked_ms;
  MeasuredRun m;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      STRATA_THROW(data, "--calibrate ", path, " line ", number, ": not JSON (", e.what(), ")");
    }
    STRATA_CHECK(j.is_object() && j.contains("step_ms") && j.contains("tokens_per_s") && j["step_ms"].is_number() &&
                     j["tokens_per_s"].is_number(),
                 data, "--calibrate ", path, " line ", number, ": expected an object with step_ms and tokens_per_s");
    step_ms.push_back(j["step_ms"].get<double>());
    tps.push_back(j["tokens_per_s"].get<double>());
    wait_ms.push_back(j.value("comm_wait_ms", 0.0));
    mfu.push_back(j.value("mfu", 0.0));
    m.comm_bytes = j.value("comm_bytes", 0.0);
    if (j.contains("comm_bytes_by_group") && j["comm_bytes_by_group"].is_object()) {
      const nlohmann::json& g = j["comm_bytes_by_group"];
      m.has_groups = true;
      m.tensor_bytes = g.value("tensor", 0.0);
      m.pipeline_bytes = g.value("pipeline", 0.0);
      m.embedding_bytes = g.value("embedding", 0.0);
      blocked_ms.push_back(j.value("comm_blocked_ms", 0.0));
    }
  }
  STRATA_CHECK(!step_ms.empty(), data, "--calibrate ", path, ": no metrics lines");
  if (step_ms.size() > 1) {  // the first logged step pays for warm-up
    for (auto* v : {&step_ms, &tps, &wait_ms, &mfu, &blocked_ms})
      if (!v->empty()) v->erase(v->begin());
  }
  m.steps = static_cast<int>(step_ms.size());
  m.step_ms = median(step_ms);
  m.tokens_per_s = median(tps);
  m.comm_wait_ms = median(wait_ms);
  m.mfu = median(mfu);
  m.blocked_ms = median(blocked_ms);
  return m;
}

std::vector<CalibrationRow> calibrate(const StepPrediction& p, const MeasuredRun& m) {
  const StageTime& s0 = p.stages.front();  // rank 0 is on pipeline stage 0
  std::vector<CalibrationRow> rows = {
      {"step time", "ms", p.step_s * 1e3, m.step_ms},
      {"compute + bubble (step - exposed data-parallel wait)", "ms", (p.step_s - p.dp_exposed_s) * 1e3,
       m.step_ms - m.comm_wait_ms},
      {"exposed gradient reduction", "ms", p.dp_exposed_s * 1e3, m.comm_wait_ms},
  };
  if (m.has_groups) {
    const double transfers = p.layout.micro_batches() * (s0.tensor_comm + s0.p2p);
    rows.push_back({"blocked in communication (transfers + bubble)", "ms",
                    (transfers + p.bubble_s + s0.dp_exposed + s0.param_gather) * 1e3, m.blocked_ms});
  }
  rows.push_back({"data-group bytes per step (payload)", "B", s0.data.payload, m.comm_bytes});
  if (m.has_groups) {
    rows.push_back({"tensor-group bytes per step", "B", s0.tensor.payload, m.tensor_bytes});
    rows.push_back({"pipeline-group bytes per step", "B", s0.pipeline.payload, m.pipeline_bytes});
    rows.push_back({"embedding-group bytes per step", "B", s0.embedding.payload, m.embedding_bytes});
  }
  rows.push_back({"tokens/s", "tok/s", p.tokens_per_s, m.tokens_per_s});
  rows.push_back({"MFU", "%", 100 * p.mfu, 100 * m.mfu});
  return rows;
}

double fitted_gemm_efficiency(const std::vector<CalibrationRow>& rows, double gemm_efficiency) {
  const CalibrationRow& compute = rows.at(1);
  return compute.measured > 0 ? gemm_efficiency * compute.predicted / compute.measured : gemm_efficiency;
}

std::string format_calibration(const std::vector<CalibrationRow>& rows, const MeasuredRun& m, double gemm_efficiency) {
  std::ostringstream os;
  os << "calibration against " << m.steps << " measured steps (medians):\n";
  os << "component                                              predicted      measured       error\n";
  for (const auto& r : rows) {
    char line[256];
    if (r.measured != 0)
      std::snprintf(line, sizeof line, "%-52s %12.4g %12.4g %-5s %+7.1f%%\n", r.component.c_str(), r.predicted,
                    r.measured, r.unit.c_str(), 100 * r.error());
    else
      std::snprintf(line, sizeof line, "%-52s %12.4g %12.4g %-5s    n/a\n", r.component.c_str(), r.predicted,
                    r.measured, r.unit.c_str());
    os << line;
  }
  char fit[160];
  std::snprintf(fit, sizeof fit, "compute matches the measured run with --gemm-efficiency %.3g (this prediction: %.3g)\n",
                fitted_gemm_efficiency(rows, gemm_efficiency), gemm_efficiency);
  return os.str() + fit;
}

nlohmann::json calibration_json(const std::vector<CalibrationRow>& rows, const MeasuredRun& m, double gemm_efficiency) {
  nlohmann::json out = {{"measured_steps", m.steps},
                        {"fitted_gemm_efficiency", fitted_gemm_efficiency(rows, gemm_efficiency)},
                        {"components", nlohmann::json::array()}};
  for (const auto& r : rows)
    out["components"].push_back({{"component", r.component},
                                 {"unit", r.unit},
                                 {"predicted", r.predicted},
                                 {"measured", r.measured},
                                 {"error", r.measured != 0 ? nlohmann::json(r.error()) : nlohmann::json()}});
  return out;
}

}  // namespace strata
