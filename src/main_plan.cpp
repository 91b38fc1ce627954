// strata-plan — the compute model (SPEC section 3): parameters, FLOPs, memory per GPU, pipeline bubble,
// communication, step time, MFU and time to train of a configuration on a machine; --search ranks
// every valid layout; --calibrate compares the prediction with a measured run. docs/planner.md.
//   strata-plan CONFIG.ini [--section.key=value ...] [--gpus N] [--hardware NAME] [--search] [--json]
// Exit codes: 0 ok, 2 usage/configuration (an invalid layout, or one that does not fit), 3 bad metrics
// file, 1 otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "src/config.h"
#include "src/plan_calibrate.h"
#include "src/plan_cli.h"
#include "src/plan_hardware.h"
#include "src/plan_report.h"
#include "src/plan_search.h"
#include "src/plan_time.h"
#include "src/program_main.h"
#include "src/sgemm_probe.h"

namespace {

const char* kUsage =
    "usage: strata-plan CONFIG.ini [--section.key=value ...] [options]\n\n"
    "Predicts, for the model and layout of CONFIG.ini on a machine: exact parameters (padded vocabulary\n"
    "included), model and hardware FLOPs per token, memory per GPU (weights, gradients, master weights,\n"
    "Adam moments, activations with the micro-batches in flight, buffers), pipeline bubble, bytes per\n"
    "step on each group, step time, tokens/s, MFU, days and GPU-hours to train. The layout is the\n"
    "configuration's parallel.* and train.* keys on --gpus ranks (data = gpus / (tensor * pipeline)).\n\n"
    "options:\n"
    "  --gpus N               GPUs (ranks) in total (default: parallel.tensor * parallel.pipeline)\n"
    "  --hardware NAME        a100-40gb, a100-80gb, h100-sxm (default), h200, cpu\n"
    "  --precision P          fp32, bf16 or fp8 GEMMs (default: train.precision)\n"
    "  --tokens N             tokens to train (default: train.steps * global_batch * seq_len)\n"
    "  --search               rank every valid layout of the model on --gpus by predicted throughput\n"
    "  --top K                rows of --search to show (default 20; 0: all that fit)\n"
    "  --json                 JSON instead of text\n"
    "  --calibrate FILE       compare with a measured run's log.metrics JSONL (same config and layout)\n"
    "  --help                 this text\n"
    "hardware adjustments (on top of --hardware):\n";

int run(int argc, char** argv) {
  using namespace strata;
  const PlanCli cli = parse_plan_cli(argc, argv, {"help", "search", "json"});
  if (cli.has("help")) {
    std::printf("%s%s\n%s", kUsage, hardware_options_help(), config_help().c_str());
    return 0;
  }
  STRATA_CHECK(!cli.config.empty(), config, "no configuration file given (see --help)");
  const Config cfg = load_config(cli.config, cli.overrides);
  const long long tp = static_cast<long long>(cfg.parallel.tensor) * cfg.parallel.pipeline;
  const long long gpus_arg = cli.count("gpus", cli.count("world-size", tp));
  STRATA_CHECK(gpus_arg >= 1 && gpus_arg <= (1LL << 30), config, "--gpus must be in [1, 2^30], found ", gpus_arg);
  const int gpus = static_cast<int>(gpus_arg);
  const std::string precision = cli.get("precision", cfg.train.precision);
  STRATA_CHECK(precision == "fp32" || precision == "bf16" || precision == "fp8", config,
               "--precision must be fp32, bf16 or fp8, found '", precision, "'");
  Hardware hw = hardware_from_cli(cli, "h100-sxm", precision, {"gpus", "world-size", "precision", "tokens", "top",
                                                               "calibrate"});
  const int top = static_cast<int>(cli.count("top", 20));
  const bool json = cli.has("json");
  const std::string calibrate_path = cli.get("calibrate");
  const GptShape shape = cfg.shape();
  double tokens = static_cast<double>(cli.count("tokens", 0));
  if (tokens <= 0) tokens = static_cast<double>(cfg.train.steps) * cfg.train.global_batch * cfg.model.seq_len;

  MeasuredRun measured;
  if (!calibrate_path.empty()) measured = read_metrics(calibrate_path);
  if (hw.peak_tflops(precision) <= 0) {
    // A CPU rank: the peak the measured run divided by, or this machine's sgemm.
    const double from_run = measured.peak_flops_per_rank(gpt_flops_per_token(shape), gpus);
    const double peak = from_run > 0 ? from_run / 1e12 : measure_sgemm_gflops(512, 2048, 512, 0.2) / 1e3;
    set_hardware_option(hw, "peak-tflops", std::to_string(peak), precision);
  }

  if (cli.has("search")) {
    const SearchResult r = search_layouts(cfg, gpus, hw, tokens, precision);
    if (json) std::printf("%s\n", search_json(r, top).dump(2).c_str());
    else std::printf("%s", format_search(r, hw, gpus, top).c_str());
    STRATA_CHECK(!r.fitting.empty(), config, "no layout of ", gpus, " GPUs fits in ", hw.memory_gib,
                 " GiB per GPU (", r.valid, " valid layouts)");
    return 0;
  }
  validate_layout(cfg, gpus);
  PlanLayout layout = plan_layout_of(cfg, gpus);
  layout.precision = precision;
  check_layout(cfg, layout);
  const StepPrediction p = predict(shape, layout, hw, tokens);
  if (!calibrate_path.empty()) {
    const auto rows = calibrate(p, measured);
    if (json) {
      nlohmann::json j = prediction_json(p);
      j["calibration"] = calibration_json(rows, measured, hw.gemm_efficiency);
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%s\n%s", format_prediction(p, hw).c_str(), format_calibration(rows, measured, hw.gemm_efficiency).c_str());
    }
    return 0;
  }
  if (json) std::printf("%s\n", prediction_json(p).dump(2).c_str());
  else std::printf("%s", format_prediction(p, hw).c_str());
  STRATA_CHECK(p.fits, config, "layout ", layout.name(), " does not fit: pipeline rank ", p.max_memory_stage,
               " needs ", gib(p.max_memory), " of ", gib(p.capacity), " per GPU (more pipeline or tensor ranks, ",
               "ZeRO, recompute or a smaller micro-batch; strata-plan --search lists those that fit)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  strata::ProgramMain program("strata-plan", "strata-plan");
  return program.run([&] { return run(argc, argv); });
}
