// plan_report.cpp — see plan_report.h.
#include "src/plan_report.h"

#include <cstdio>
#include <sstream>

namespace strata {
namespace {

std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

std::string seconds(double s) {
  return s >= 1 ? fmt("%.3f s", s) : s >= 1e-3 ? fmt("%.2f ms", s * 1e3) : fmt("%.1f us", s * 1e6);
}

std::string bytes(double b) {
  return b >= 1e9 ? fmt("%.2f GB", b / 1e9) : b >= 1e6 ? fmt("%.2f MB", b / 1e6) : fmt("%.0f B", b);
}

}  // namespace

std::string with_commas(long long n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

std::string gib(double b) { return fmt("%.2f GiB", b / (1024.0 * 1024.0 * 1024.0)); }

std::string format_prediction(const StepPrediction& p, const Hardware& hw) {
  const PlanLayout& l = p.layout;
  const GptShape& s = p.shape;
  std::ostringstream os;
  os << "model: " << s.layers << " layers, hidden " << s.hidden << ", heads " << s.heads << ", seq " << s.seq_len
     << ", vocab " << s.vocab_size << " (padded to " << s.padded_vocab() << " for tensor " << l.tensor << ")\n";
  os << "parameters: " << with_commas(p.parameters) << " (" << with_commas(p.parameters_unpadded)
     << " without the " << (s.padded_vocab() - s.vocab_size) << " padding rows of wte)\n";
  os << "FLOPs per token: model " << fmt("%.4g", p.model_flops_per_token) << " (6N + 12*L*C*T), hardware "
     << fmt("%.4g", p.hardware_flops_per_token) << " (recompute " << l.recompute << ")\n";
  os << "hardware: " << describe(hw) << "\n";
  os << "layout: " << l.world() << " GPUs = tensor " << l.tensor << " x pipeline " << l.pipeline << " x data "
     << l.data << ", virtual stages " << l.virtual_stages << ", ZeRO " << l.zero_stage << ", sequence parallel "
     << (l.sequence_parallel ? "on" : "off") << ", recompute " << l.recompute << ", micro-batch " << l.micro_batch
     << ", global batch " << l.global_batch << " (" << l.micro_batches() << " micro-batches per data rank), "
     << l.precision << ", order " << l.order << "\n\n";
  os << "memory per GPU (pipeline rank: weights + grads + master + adam + activations + buffers + reserve = total):\n";
  for (std::size_t r = 0; r < p.memory.size(); ++r) {
    // Every rank is listed for short pipelines; long ones show the first two and the last.
    if (p.memory.size() > 4 && r >= 2 && r + 1 < p.memory.size()) {
      if (r == 2) os << "  ...\n";
      continue;
    }
    const MemoryBreakdown& m = p.memory[r];
    os << "  pp " << r << ": " << gib(m.weights) << " + " << gib(m.grads) << " + " << gib(m.master) << " + "
       << gib(m.adam) << " + " << gib(m.activations) << " (" << m.in_flight << " in flight x " << m.layers_per_slot
       << " blocks) + " << gib(m.buffers) << " + " << gib(m.reserve) << " = " << gib(m.total()) << "; "
       << with_commas(p.counts[r].params) << " parameters, ZeRO shard " << with_commas(p.counts[r].owned) << "\n";
  }
  os << "peak " << gib(p.max_memory) << " on pipeline rank " << p.max_memory_stage << " of " << gib(p.capacity)
     << ": " << (p.fits ? "fits" : "DOES NOT FIT") << " (margin vs the real partition: "
     << fmt("%.0f%%", kMemoryMargin * 100) << ")\n\n";
  const StageTime& st0 = p.stages.front();
  os << "time per micro-batch on pp 0: forward " << seconds(st0.forward) << ", backward " << seconds(st0.backward)
     << " (tensor collectives " << seconds(st0.tensor_comm) << ", pipeline sends " << seconds(st0.p2p) << ")\n";
  os << "pipeline: " << seconds(p.pipeline_s) << ", bubble " << seconds(p.bubble_s) << " ("
     << fmt("%.1f%%", 100 * p.bubble_fraction) << "; (P-1)/(V*M) = " << fmt("%.1f%%", 100 * p.ideal_bubble_fraction)
     << ")\n";
  os << "after the pipeline: " << seconds(p.tail_s) << " (exposed gradient reduction " << seconds(p.dp_exposed_s)
     << " of " << seconds(st0.dp_reduce) << ", ZeRO all-gather " << seconds(st0.param_gather) << ", optimizer "
     << seconds(st0.optimizer) << ")\n";
  os << "bytes per step and GPU (payload / on the links): tensor " << bytes(p.tensor.payload) << " / "
     << bytes(p.tensor.bus) << ", pipeline " << bytes(p.pipeline.payload) << ", data " << bytes(p.data.payload)
     << " / " << bytes(p.data.bus) << ", embedding " << bytes(p.embedding.payload) << "\n\n";
  os << "step: " << seconds(p.step_s) << " | " << fmt("%.0f", p.tokens_per_s) << " tokens/s ("
     << fmt("%.1f", p.tokens_per_s / l.world()) << " per GPU) | MFU " << fmt("%.1f%%", 100 * p.mfu) << " (HFU "
     << fmt("%.1f%%", 100 * p.hfu) << ", " << fmt("%.4g", p.mfu * p.peak_tflops) << " model TFLOP/s per GPU of "
     << fmt("%.4g", p.peak_tflops) << ")\n";
  os << "to train " << fmt("%.4g", p.train_tokens) << " tokens: " << fmt("%.2f", p.days) << " days, "
     << with_commas(static_cast<long long>(p.gpu_hours)) << " GPU-hours\n";
  return os.str();
}

nlohmann::json prediction_json(const StepPrediction& p) {
  const PlanLayout& l = p.layout;
  nlohmann::json layout = {{"tensor", l.tensor},
                           {"pipeline", l.pipeline},
                           {"virtual_stages", l.virtual_stages},
                           {"data", l.data},
                           {"zero_stage", l.zero_stage},
                           {"sequence_parallel", l.sequence_parallel},
                           {"recompute", l.recompute},
                           {"micro_batch", l.micro_batch},
                           {"global_batch", l.global_batch},
                           {"precision", l.precision},
                           {"order", l.order}};
  nlohmann::json memory = nlohmann::json::array();
  for (std::size_t r = 0; r < p.memory.size(); ++r) {
    const MemoryBreakdown& m = p.memory[r];
    memory.push_back({{"pipeline_rank", r},      {"parameters", p.counts[r].params}, {"zero_shard", p.counts[r].owned},
                      {"weights", m.weights},    {"grads", m.grads},                 {"master", m.master},
                      {"adam", m.adam},          {"activations", m.activations},     {"buffers", m.buffers},
                      {"reserve", m.reserve},    {"total", m.total()},               {"in_flight", m.in_flight}});
  }
  auto traffic = [](const GroupTraffic& g) {
    return nlohmann::json{{"payload_bytes", g.payload}, {"bus_bytes", g.bus}, {"seconds", g.seconds}};
  };
  return {{"layout", layout},
          {"name", l.name()},
          {"parameters", p.parameters},
          {"parameters_unpadded", p.parameters_unpadded},
          {"padded_vocab", p.shape.padded_vocab()},
          {"model_flops_per_token", p.model_flops_per_token},
          {"hardware_flops_per_token", p.hardware_flops_per_token},
          {"memory", memory},
          {"max_memory_bytes", p.max_memory},
          {"capacity_bytes", p.capacity},
          {"fits", p.fits},
          {"forward_s", p.stages.front().forward},
          {"backward_s", p.stages.front().backward},
          {"pipeline_s", p.pipeline_s},
          {"bubble_s", p.bubble_s},
          {"bubble_fraction", p.bubble_fraction},
          {"dp_exposed_s", p.dp_exposed_s},
          {"tail_s", p.tail_s},
          {"step_s", p.step_s},
          {"tokens_per_s", p.tokens_per_s},
          {"mfu", p.mfu},
          {"hfu", p.hfu},
          {"peak_tflops", p.peak_tflops},
          {"bytes_per_step",
           {{"tensor", traffic(p.tensor)}, {"pipeline", traffic(p.pipeline)}, {"data", traffic(p.data)},
            {"embedding", traffic(p.embedding)}}},
          {"train_tokens", p.train_tokens},
          {"days", p.days},
          {"gpu_hours", p.gpu_hours}};
}

std::string format_search(const SearchResult& r, const Hardware& hw, int gpus, int top) {
  std::ostringstream os;
  os << "search: " << gpus << " x " << hw.name << ": " << r.valid << " valid layouts, " << r.fitting.size()
     << " fit in " << fmt("%.0f", hw.memory_gib) << " GiB, " << r.rejected_memory << " do not\n";
  os << "rank  tensor pipe virt data zero seqpar recompute  mb  tokens/s      MFU    bubble  memory      step\n";
  const int n = top > 0 ? std::min<int>(top, static_cast<int>(r.fitting.size())) : static_cast<int>(r.fitting.size());
  for (int i = 0; i < n; ++i) {
    const StepPrediction& p = r.fitting[i];
    const PlanLayout& l = p.layout;
    char line[256];
    std::snprintf(line, sizeof line, "%4d  %6d %4d %4d %4d %4d %6s %-9s %3d  %-12.0f %5.1f%%  %5.1f%%  %-10s  %s\n",
                  i + 1, l.tensor, l.pipeline, l.virtual_stages, l.data, l.zero_stage,
                  l.sequence_parallel ? "on" : "off", l.recompute.c_str(), l.micro_batch, p.tokens_per_s,
                  100 * p.mfu, 100 * p.bubble_fraction, gib(p.max_memory).c_str(), seconds(p.step_s).c_str());
    os << line;
  }
  return os.str();
}

nlohmann::json search_json(const SearchResult& r, int top) {
  nlohmann::json layouts = nlohmann::json::array();
  const int n = top > 0 ? std::min<int>(top, static_cast<int>(r.fitting.size())) : static_cast<int>(r.fitting.size());
  for (int i = 0; i < n; ++i) layouts.push_back(prediction_json(r.fitting[i]));
  return {{"valid", r.valid}, {"fitting", r.fitting.size()}, {"rejected_memory", r.rejected_memory},
          {"layouts", layouts}};
}

}  // namespace strata
