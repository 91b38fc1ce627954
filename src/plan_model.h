// plan_model.h — the planner's description of a run (PlanLayout: the parallel layout and schedule of a
// configuration) and the model quantities it needs in closed form: which layers each pipeline rank
// holds, the parameters on one rank (tensor slice, padded vocabulary, the last stage's wte copy), model
// and hardware FLOPs per token. Closed forms, deliberately independent of src/param_layout.h, so the
// tests can hold one against the other (strata-train --dry-run builds the real ParamLayout).
//
// Parameters of the full model (SPEC section 4, C = hidden, L = layers, T = seq_len, Vp = padded vocab):
//   N = Vp*C + T*C + L*(12*C^2 + 13*C) + 2*C
// per block: ln1 2C, qkv 3C^2+3C, attn proj C^2+C, ln2 2C, fc 4C^2+4C, fc proj 4C^2+C. On tensor rank
// t of T_p ranks a block holds (12*C^2 + 7*C)/T_p + 6*C (qkv, attn-proj weight, fc, fc-proj weight are
// split; LayerNorms and the two row-parallel biases are replicated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/gpt_shape.h"

namespace strata {

struct PlanLayout {
  int tensor = 1, pipeline = 1, virtual_stages = 1, data = 1;
  int zero_stage = 1;
  bool sequence_parallel = false;
  std::string recompute = "none";  // none | selective | full
  int micro_batch = 1, global_batch = 1;
  std::string precision = "fp32";  // fp32 | bf16 | fp8 (planner only: fp8 GEMMs, bf16 storage)
  std::string order = "tp,dp,pp";

  int world() const { return tensor * pipeline * data; }
  int micro_batches() const { return global_batch / (micro_batch * data); }
  // Bytes of one stored parameter / activation element: 4 for fp32, 2 for bf16 and fp8.
  int param_bytes() const { return precision == "fp32" ? 4 : 2; }
  // "t8 p16 v1 d8 z1 sp sel mb1"
  std::string name() const;
};

// The layout of a configuration on `world_size` ranks (validate_layout must have accepted it).
PlanLayout plan_layout_of(const Config& cfg, int world_size);
// A configuration carrying `layout` on top of `base` (for validate_layout).
Config config_with_layout(const Config& base, const PlanLayout& layout);
// Throws Error{config} naming the key when the layout breaks a rule of validate_layout (SPEC section 5,
// and interleaved 1F1B's: pipeline > 1, micro-batches divisible by pipeline) or the precision is not
// fp32, bf16 or fp8.
void check_layout(const Config& base, const PlanLayout& layout);

// The model chunks pipeline rank `stage` holds, in order: chunk v*P + stage for v in [0, V) (the
// interleaved assignment of Narayanan et al. 2021; V = 1 is the contiguous 1F1B split). Each chunk has
// layers / (P*V) consecutive layers; chunk 0 carries the embedding, chunk P*V-1 the head.
struct ModelChunk {
  int index = 0, first_layer = 0, num_layers = 0;
  bool has_embedding = false, has_head = false;
};
std::vector<ModelChunk> stage_chunks(const GptShape& shape, const PlanLayout& layout, int stage);

// Parameters of one chunk / one rank of pipeline stage `stage` (its tensor slice), padded vocabulary
// and the last stage's own wte copy included (when the first and last chunk live on different ranks).
int64_t chunk_parameters(const GptShape& shape, int tensor, const ModelChunk& chunk, bool own_wte_copy);
int64_t rank_parameters(const GptShape& shape, const PlanLayout& layout, int stage);
// Parameters of one block on one tensor rank, and of the unsharded model (= gpt_parameter_count).
int64_t block_parameters(const GptShape& shape, int tensor);

// Hardware FLOPs per token: model FLOPs (gpt_flops_per_token) plus what recompute runs again —
// full: one more forward of every block (2*12*C^2 per layer and token, and its attention); selective:
// the attention core once more (4*T*C per layer and token, unmasked count).
double hardware_flops_per_token(const GptShape& shape, const std::string& recompute);

}  // namespace strata
