// plan_model.cpp — see plan_model.h.
#include "src/plan_model.h"

#include <sstream>

#include "kernels/error.h"

namespace strata {

std::string PlanLayout::name() const {
  std::ostringstream os;
  os << "t" << tensor << " p" << pipeline << " v" << virtual_stages << " d" << data << " z" << zero_stage
     << (sequence_parallel ? " sp " : " -- ") << (recompute == "selective" ? "sel" : recompute) << " mb" << micro_batch;
  return os.str();
}

PlanLayout plan_layout_of(const Config& cfg, int world_size) {
  PlanLayout l;
  l.tensor = cfg.parallel.tensor;
  l.pipeline = cfg.parallel.pipeline;
  l.virtual_stages = cfg.parallel.virtual_stages;
  l.data = cfg.data_parallel(world_size);
  l.zero_stage = cfg.parallel.zero_stage;
  l.sequence_parallel = cfg.parallel.sequence_parallel;
  l.recompute = cfg.train.recompute;
  l.micro_batch = cfg.train.micro_batch;
  l.global_batch = cfg.train.global_batch;
  l.precision = cfg.train.precision;
  l.order = cfg.parallel.order;
  return l;
}

Config config_with_layout(const Config& base, const PlanLayout& l) {
  Config c = base;
  c.parallel.tensor = l.tensor;
  c.parallel.pipeline = l.pipeline;
  c.parallel.virtual_stages = l.virtual_stages;
  c.parallel.zero_stage = l.zero_stage;
  c.parallel.sequence_parallel = l.sequence_parallel;
  c.parallel.order = l.order;
  c.train.recompute = l.recompute;
  c.train.micro_batch = l.micro_batch;
  c.train.global_batch = l.global_batch;
  if (l.precision != "fp8") c.train.precision = l.precision;  // fp8 exists only in the planner
  return c;
}

void check_layout(const Config& base, const PlanLayout& l) {
  STRATA_CHECK(l.data >= 1, config, "parallel.tensor * parallel.pipeline = ", l.tensor * l.pipeline,
               " leaves no data-parallel rank");
  validate_layout(config_with_layout(base, l), l.world());
  STRATA_CHECK(l.precision == "fp32" || l.precision == "bf16" || l.precision == "fp8", config,
               "--precision must be fp32, bf16 or fp8, found '", l.precision, "'");
}

std::vector<ModelChunk> stage_chunks(const GptShape& s, const PlanLayout& l, int stage) {
  const int chunks = l.pipeline * l.virtual_stages;
  const int per = s.layers / chunks;
  std::vector<ModelChunk> out;
  for (int v = 0; v < l.virtual_stages; ++v) {
    ModelChunk c;
    c.index = v * l.pipeline + stage;
    c.first_layer = c.index * per;
    c.num_layers = per;
    c.has_embedding = c.index == 0;
    c.has_head = c.index == chunks - 1;
    out.push_back(c);
  }
  return out;
}

int64_t block_parameters(const GptShape& s, int tensor) {
  const int64_t c = s.hidden;
  return (12 * c * c + 7 * c) / tensor + 6 * c;
}

int64_t chunk_parameters(const GptShape& s, int tensor, const ModelChunk& chunk, bool own_wte_copy) {
  const int64_t c = s.hidden;
  const int64_t wte = static_cast<int64_t>(s.padded_vocab()) / tensor * c;
  int64_t n = chunk.num_layers * block_parameters(s, tensor);
  if (chunk.has_embedding) n += wte + static_cast<int64_t>(s.seq_len) * c;
  if (chunk.has_head) n += 2 * c + (own_wte_copy ? wte : 0);
  return n;
}

int64_t rank_parameters(const GptShape& s, const PlanLayout& l, int stage) {
  const std::vector<ModelChunk> chunks = stage_chunks(s, l, stage);
  bool has_embedding = false;
  for (const auto& c : chunks) has_embedding = has_embedding || c.has_embedding;
  int64_t n = 0;
  for (const auto& c : chunks) n += chunk_parameters(s, l.tensor, c, !has_embedding);
  return n;
}

double hardware_flops_per_token(const GptShape& s, const std::string& recompute) {
  const double c = s.hidden, layers = s.layers;
  double extra = 0;
  if (recompute == "full") extra = layers * (2.0 * 12.0 * c * c + 4.0 * c * s.seq_len);
  if (recompute == "selective") extra = layers * 4.0 * c * s.seq_len;
  return gpt_flops_per_token(s) + extra;
}

}  // namespace strata
