// checkpoint_model.h — a checkpoint's model on one process: its shape from the configuration it was
// saved with, and its full tensors (io/checkpoint_file.h) to and from the flat parameter buffer of a
// single-rank GptModel (src/param_layout.h), for strata-ckpt's conversions and sampling.
#pragma once

#include <string>
#include <vector>

#include "io/checkpoint_file.h"
#include "io/gpt2_tensors.h"
#include "src/config.h"
#include "src/param_layout.h"

namespace strata {

Gpt2Dims gpt2_dims(const GptShape& shape);

// The configuration a checkpoint was saved with; `source` (the checkpoint's path) names it in errors,
// which are Error (data): a checkpoint whose configuration does not parse is a bad checkpoint.
Config checkpoint_config(const CheckpointContents& contents, const std::string& source);

// Checks that params, exp_avg and exp_avg_sq each hold exactly the tensors of the model of `shape`
// (Error data naming `source`, the list and the tensor).
void check_checkpoint_tensors(const CheckpointContents& contents, const GptShape& shape, const std::string& source);

// The flat parameter buffer of `layout` (a whole, unsharded model) from full tensors: each tensor is
// copied at its offset; wte's padded vocabulary rows are zero. Error (data) naming `source` for a
// missing tensor or a shape other than the layout's.
std::vector<float> flat_parameters(const ParamLayout& layout, const GptShape& shape, const TensorList& tensors,
                                   const std::string& source);
// The inverse: the full tensors of a whole model's flat buffer, wte without its padded rows.
TensorList tensors_of(const ParamLayout& layout, const GptShape& shape, const std::vector<float>& flat);

}  // namespace strata
