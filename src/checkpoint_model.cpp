// checkpoint_model.cpp — see checkpoint_model.h.
#include "src/checkpoint_model.h"

#include <algorithm>

#include "kernels/error.h"

namespace strata {
namespace {

// The stored shape of a layout tensor: the full shape, wte without the padded rows.
std::vector<int64_t> stored_shape(const ParamTensor& t, const GptShape& shape) {
  std::vector<int64_t> s = t.full_shape;
  if (t.kind == ParamKind::wte) s[0] = shape.vocab_size;
  return s;
}

void check_whole(const ParamLayout& layout) {
  const ModelPartition& p = layout.partition();
  STRATA_CHECK(p.tensor_size == 1 && p.first_layer == 0 && p.has_embedding && p.has_head, internal,
               "checkpoint tensors need a whole-model layout");
}

}  // namespace

Gpt2Dims gpt2_dims(const GptShape& s) { return {s.layers, s.hidden, s.heads, s.seq_len, s.vocab_size}; }

Config checkpoint_config(const CheckpointContents& contents, const std::string& source) {
  try {
    return config_from_ini(contents.config_ini, source + " (saved configuration)");
  } catch (const Error& e) {
    STRATA_THROW(data, source, ": the configuration saved in the checkpoint is unusable: ", e.what());
  }
}

void check_checkpoint_tensors(const CheckpointContents& c, const GptShape& shape, const std::string& source) {
  const Gpt2Dims dims = gpt2_dims(shape);
  check_gpt2_tensors(c.params, dims, source + " /params");
  check_gpt2_tensors(c.exp_avg, dims, source + " /exp_avg");
  check_gpt2_tensors(c.exp_avg_sq, dims, source + " /exp_avg_sq");
}

std::vector<float> flat_parameters(const ParamLayout& layout, const GptShape& shape, const TensorList& tensors,
                                   const std::string& source) {
  check_whole(layout);
  std::vector<float> flat(layout.total(), 0.0f);
  for (const ParamTensor& t : layout.tensors()) {
    const std::string name = t.name();
    const NamedTensor& src = get_tensor(tensors, name, source);
    const std::vector<int64_t> want = stored_shape(t, shape);
    STRATA_CHECK(src.shape == want && src.data.size() == shape_elements(want), data, source, ": tensor '", name,
                 "' has shape ", shape_string(src.shape), "; the model (layers ", shape.layers, ", hidden ",
                 shape.hidden, ", seq_len ", shape.seq_len, ", vocab_size ", shape.vocab_size, ") needs ",
                 shape_string(want));
    std::copy(src.data.begin(), src.data.end(), flat.begin() + static_cast<std::ptrdiff_t>(t.offset));
  }
  return flat;
}

TensorList tensors_of(const ParamLayout& layout, const GptShape& shape, const std::vector<float>& flat) {
  check_whole(layout);
  STRATA_CHECK(flat.size() == layout.total(), internal, "flat buffer of ", flat.size(), " floats; the layout has ",
               layout.total());
  TensorList out;
  for (const ParamTensor& t : layout.tensors()) {
    NamedTensor n{t.name(), stored_shape(t, shape), {}};
    const auto first = flat.begin() + static_cast<std::ptrdiff_t>(t.offset);
    n.data.assign(first, first + static_cast<std::ptrdiff_t>(shape_elements(n.shape)));
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace strata
