// plan_memory.cpp — see plan_memory.h.
#include "src/plan_memory.h"

#include <algorithm>

namespace strata {

RankCounts planned_counts(const GptShape& s, const PlanLayout& l, int stage) {
  RankCounts r;
  r.params = rank_parameters(s, l, stage);
  r.owned = l.zero_stage >= 1 ? (r.params + l.data - 1) / l.data : r.params;
  // ZeRO-3 gather pools: the embedding range (wte slice + wpe), the blocks (double-buffered), the head
  // range (final LayerNorm, and the wte copy of a last stage without the embedding).
  const std::vector<ModelChunk> chunks = stage_chunks(s, l, stage);
  const int64_t c = s.hidden, wte = static_cast<int64_t>(s.padded_vocab()) / l.tensor * c;
  bool has_embedding = false;
  int blocks = 0;
  for (const ModelChunk& ch : chunks) has_embedding = has_embedding || ch.has_embedding, blocks += ch.num_layers;
  for (const ModelChunk& ch : chunks) {
    if (ch.has_embedding) r.gather += wte + static_cast<int64_t>(s.seq_len) * c;
    if (ch.has_head) r.gather += 2 * c + (has_embedding ? 0 : wte);
  }
  r.gather += (blocks > 1 ? 2 : 1) * block_parameters(s, l.tensor);
  return r;
}

int peak_in_flight(const PlanLayout& l, int stage) {
  const int p = l.pipeline, m = l.micro_batches(), v = l.virtual_stages;
  if (p == 1) return 1;
  if (v == 1) return std::min(p - stage, m);
  return std::min(2 * (p - stage - 1) + (v - 1) * p + 1, m * v);
}

// Bytes of a residual-stream element: GptModel keeps the residual stream (and so the pipeline messages) in
// fp32 in every precision.
constexpr double kResidualBytes = 4.0;

double activation_bytes_per_block(const GptShape& s, const PlanLayout& l) {
  const double tokens = static_cast<double>(l.micro_batch) * s.seq_len;
  const double e = l.param_bytes(), c = s.hidden, t = l.tensor;
  const double t_rep = l.sequence_parallel ? t : 1.0;
  // As GptModel keeps them: the residual stream (block input, residual after attention) in fp32 whatever the
  // precision, the two LayerNorm outputs and the column-parallel activations in e bytes.
  if (l.recompute == "full") return tokens * c * kResidualBytes / t_rep;
  const double sharded = l.recompute == "selective" ? 11.0 : 12.0;
  const double stats = 4.0 / t_rep + static_cast<double>(s.heads) / t;  // fp32 LayerNorm and softmax statistics
  return tokens * (c * (2.0 * kResidualBytes / t_rep + e * (2.0 / t_rep + sharded / t)) + 4.0 * stats);
}

MemoryBreakdown rank_memory(const GptShape& s, const PlanLayout& l, const Hardware& hw, int stage,
                            const RankCounts& n) {
  MemoryBreakdown m;
  const double e = l.param_bytes();
  const bool bf16 = l.precision != "fp32";
  const double params = static_cast<double>(n.params), owned = static_cast<double>(n.owned);
  const double gather = static_cast<double>(n.gather);
  switch (l.zero_stage) {
    case 0:
      m.weights = e * params, m.grads = 4 * params, m.master = bf16 ? 4 * params : 0, m.adam = 8 * params;
      break;
    case 1:
    case 2:
      m.weights = e * params, m.grads = 4 * params + (l.zero_stage == 2 ? 4 * owned : 0);
      m.master = bf16 ? 4 * owned : 0, m.adam = 8 * owned;
      break;
    default:
      m.weights = e * (owned + gather), m.master = bf16 ? 4 * owned : 0;
      m.grads = 4 * (gather + gather / std::max(l.data, 1) + owned);
      m.adam = 8 * owned;
      break;
  }
  const int chunks_here = l.virtual_stages;
  m.layers_per_slot = s.layers / (l.pipeline * chunks_here);
  m.in_flight = peak_in_flight(l, stage);
  const double tokens = static_cast<double>(l.micro_batch) * s.seq_len;
  const double c = s.hidden, t = l.tensor, t_rep = l.sequence_parallel ? t : 1.0;
  // Per unit in flight: its blocks plus the stage output it hands on (the residual after its last block).
  m.activations =
      m.in_flight * (m.layers_per_slot * activation_bytes_per_block(s, l) + tokens * c * kResidualBytes / t_rep);
  // Buffers: backward scratch in fp32 (residual and LayerNorm gradients, qkv, attention output and fc
  // gradients), the block being recomputed (full), the last stage's fp32 logits and its final LayerNorm's
  // output (e bytes). (ZeRO reduces and gathers in place.)
  double buffers = tokens * c * 4.0 * (2.0 + 8.0 / t);
  if (l.recompute == "full") {
    PlanLayout none = l;
    none.recompute = "none";
    buffers += activation_bytes_per_block(s, none);
  }
  bool has_head = false;
  for (const auto& ch : stage_chunks(s, l, stage)) has_head = has_head || ch.has_head;
  if (has_head) buffers += tokens * (static_cast<double>(s.padded_vocab()) / t) * 4.0 + tokens * c * e;
  m.buffers = buffers;
  m.reserve = hw.reserve_gib * 1024.0 * 1024.0 * 1024.0;
  return m;
}

}  // namespace strata
