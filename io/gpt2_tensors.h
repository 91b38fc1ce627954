// gpt2_tensors.h — a GPT-2 model's weights as named fp32 tensors: the common currency of the format
// converters (io/hf_gpt2.h, io/llmc_checkpoint.h) and strata-ckpt.
//
// Canonical form (Strata's, see src/param_layout.h), for dims (L layers, hidden C, positions T, vocab V):
//   wte.weight (V,C) — the real vocabulary only, no padding rows; wpe.weight (T,C);
//   per block l, names "h.<l>." + ln_1.weight (C), ln_1.bias (C), attn.c_attn.weight (3C,C),
//     attn.c_attn.bias (3C), attn.c_proj.weight (C,C), attn.c_proj.bias (C), ln_2.weight (C),
//     ln_2.bias (C), mlp.c_fc.weight (4C,C), mlp.c_fc.bias (4C), mlp.c_proj.weight (C,4C),
//     mlp.c_proj.bias (C);
//   ln_f.weight (C), ln_f.bias (C).
// Matrices are (out, in): y = x W^T + b. c_attn's rows are [q | k | v], head h of q at rows h*C/NH...
// The output projection is tied to wte (no separate tensor). Hugging Face's names are these with an
// optional "transformer." prefix; llm.c stores the same tensors stacked over layers (same orientation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/checkpoint_file.h"

namespace strata {

// {name, shape, data}: the checkpoint's tensor type, so checkpoint contents convert without copies.
using NamedTensor = CheckpointTensor;
using TensorList = std::vector<NamedTensor>;

std::size_t shape_elements(const std::vector<std::int64_t>& shape);
std::string shape_string(const std::vector<std::int64_t>& shape);  // "(3, 4)"

// The tensor called `name`, or nullptr.
const NamedTensor* find_tensor(const TensorList& tensors, std::string_view name);
// The tensor called `name`; Error (data) "<source>: no tensor '<name>'" when absent.
const NamedTensor& get_tensor(const TensorList& tensors, std::string_view name, const std::string& source);

// The transpose of a (rows, cols) row-major matrix.
std::vector<float> transpose(const std::vector<float>& a, std::int64_t rows, std::int64_t cols);
// The first `rows` rows of a 2-D tensor, followed by zero rows when it has fewer.
NamedTensor resize_rows(const NamedTensor& t, std::int64_t rows);

struct Gpt2Dims {
  int layers = 0, hidden = 0, heads = 0;
  int positions = 0;  // learned positions = the longest sequence (Strata's model.seq_len)
  int vocab_size = 0; // the real vocabulary (no padding)
};

// The per-block tensor names, "ln_1.weight" ... "mlp.c_proj.bias", in the order above (llm.c's order).
const std::vector<std::string>& gpt2_block_tensor_names();
// The canonical tensors (name, shape) of a model of `dims`, in the order above.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> gpt2_tensor_shapes(const Gpt2Dims& dims);

// Checks `dims` (positive, heads dividing hidden; Error data naming `source` otherwise) and that `tensors`
// is exactly the canonical set of `dims`: every name present once with its shape and data size, nothing
// else. Error (data) naming `source`, the tensor, the expected and the found shape.
void check_gpt2_tensors(const TensorList& tensors, const Gpt2Dims& dims, const std::string& source);

// The canonical tensors of `tensors` in canonical order (moved out of it); check_gpt2_tensors first.
TensorList sort_gpt2_tensors(TensorList tensors, const Gpt2Dims& dims, const std::string& source);

}  // namespace strata
