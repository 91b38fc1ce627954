// gpt_shape.h — the shape of a GPT-2/GPT-3 model (SPEC section 4) and the quantities derived from it.
#pragma once

#include <cstdint>

namespace strata {

struct GptShape {
  int layers = 2;
  int hidden = 64;  // C
  int heads = 4;    // NH
  int seq_len = 64; // T (also the number of learned positions)
  int vocab_size = 257;
  int tensor = 1;   // tensor-parallel size: the vocabulary is padded to a multiple of 128 * tensor

  int head_size() const { return hidden / heads; }
  // The embedding/output vocabulary is padded so that every tensor rank holds an equal slice whose
  // size is a multiple of 128 (fast GEMMs); padded logits are masked, so results do not change.
  int padded_vocab() const {
    const int multiple = 128 * tensor;
    return (vocab_size + multiple - 1) / multiple * multiple;
  }
};

// Parameter count of the full (unsharded) model, padded vocabulary included, tied embedding counted once.
int64_t gpt_parameter_count(const GptShape& s);

// Model FLOPs per token (PaLM / Megatron convention, see docs/): 6 * (block matmul parameters + output
// projection over the padded vocabulary) + 12 * layers * hidden * seq_len for attention scores and
// values (forward + backward, counted unmasked). Recompute is never counted.
double gpt_flops_per_token(const GptShape& s);

}  // namespace strata
