// hf_gpt2.h — Hugging Face `transformers` GPT2LMHeadModel checkpoints: a directory with config.json and
// model.safetensors (or model.safetensors.index.json + its shards), to and from the canonical GPT-2
// tensors of io/gpt2_tensors.h.
//
// The mapping (canonical -> HF):
//   names       "transformer." + name (save_pretrained's spelling; on import names with and without the
//               prefix are accepted);
//   Conv1D      attn.c_attn.weight, attn.c_proj.weight, mlp.c_fc.weight, mlp.c_proj.weight are stored
//               (in, out) by HF's Conv1D (y = x W + b): transposed; every other tensor is as is;
//   lm_head     tied to wte: not written; on import an lm_head.weight must equal wte.weight exactly
//               (untied heads are refused);
//   buffers     attn.bias / attn.masked_bias (causal-mask buffers of old checkpoints) are ignored.
// config.json: model_type gpt2, architectures [GPT2LMHeadModel], n_layer, n_embd, n_head, n_positions,
// n_ctx, vocab_size, layer_norm_epsilon 1e-5, activation_function gelu_new (tanh GELU),
// tie_word_embeddings true, bos_token_id = eos_token_id = the end-of-text id when known. Import refuses configurations Strata's model does not compute exactly:
// another epsilon, activation (gelu_pytorch_tanh is accepted: same function), n_inner != 4 n_embd,
// scale_attn_weights false, scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, untied embeddings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/gpt2_tensors.h"

namespace strata {

struct Gpt2Weights {
  Gpt2Dims dims;
  TensorList tensors;  // canonical (io/gpt2_tensors.h)
  // The end-of-text id, written to config.json as bos_token_id and eos_token_id (HF's defaults, 50256,
  // are GPT-2's; null when unknown). Not read back.
  std::optional<std::int32_t> eos_id;
};

// config.json for `dims`.
std::string hf_config_json(const Gpt2Dims& dims, std::optional<std::int32_t> eos_id = std::nullopt);
// The dims of a config.json text; `source` names it in Error (data) messages.
Gpt2Dims parse_hf_config(const std::string& json_text, const std::string& source);

// Canonical tensors -> HF state dict (prefixed names, Conv1D orientation, no lm_head), and back
// (checks the result against `dims`; Error data naming `source`).
TensorList canonical_to_hf(const TensorList& tensors);
TensorList hf_to_canonical(TensorList hf, const Gpt2Dims& dims, const std::string& source);

// Writes <dir>/model.safetensors and <dir>/config.json (dir created if missing).
void export_hf(const std::string& dir, const Gpt2Weights& weights);
// Reads a directory written by export_hf or by save_pretrained (safetensors, single file or sharded).
Gpt2Weights import_hf(const std::string& dir);

}  // namespace strata
