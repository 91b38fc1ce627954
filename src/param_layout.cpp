// param_layout.cpp — see param_layout.h.
#include "src/param_layout.h"

#include "kernels/error.h"

namespace strata {

const char* param_kind_name(ParamKind kind) {
  static constexpr const char* kNames[kParamKinds] = {
      "wte.weight",        "wpe.weight",      "ln_1.weight",   "ln_1.bias",     "attn.c_attn.weight", "attn.c_attn.bias",
      "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",     "mlp.c_fc.weight",    "mlp.c_fc.bias",
      "mlp.c_proj.weight", "mlp.c_proj.bias", "ln_f.weight",   "ln_f.bias"};
  return kNames[static_cast<int>(kind)];
}

std::string ParamTensor::name() const {
  return layer >= 0 ? "h." + std::to_string(layer) + "." + param_kind_name(kind) : param_kind_name(kind);
}

int ModelPartition::local_index(int layer) const {
  for (int c = 0; c < chunks; ++c) {
    const int first = chunk_first_layer(c);
    if (layer >= first && layer < first + num_layers) return c * num_layers + layer - first;
  }
  return -1;
}

ModelPartition pipeline_partition(int layers, int stages, int stage, int chunks) {
  STRATA_CHECK(stages >= 1 && stage >= 0 && stage < stages && chunks >= 1, internal, "pipeline stage ", stage,
               " of ", stages, " with ", chunks, " chunks");
  STRATA_CHECK(layers % (stages * chunks) == 0, config, "model.layers = ", layers, " does not split evenly over ",
               stages, " pipeline stages x ", chunks, " virtual stages (parallel.pipeline x parallel.virtual_stages)");
  ModelPartition part;
  part.num_layers = layers / (stages * chunks);
  part.first_layer = stage * part.num_layers;
  part.chunks = chunks;
  part.chunk_stride = stages * part.num_layers;
  part.has_embedding = stage == 0;
  part.has_head = stage == stages - 1;
  return part;
}

ParamLayout::ParamLayout(const GptShape& s, const ModelPartition& part) : part_(part) {
  if (part_.num_layers < 0) {
    STRATA_CHECK(part_.chunks == 1, internal, "a partition of ", part_.chunks, " chunks needs its blocks per chunk");
    part_.num_layers = s.layers - part_.first_layer;
  }
  STRATA_CHECK(part_.chunks >= 1 && (part_.chunks == 1 || part_.chunk_stride >= part_.num_layers), internal,
               "partition of ", part_.chunks, " chunks of ", part_.num_layers, " blocks, ", part_.chunk_stride,
               " blocks apart: chunks must not overlap");
  const int end = part_.chunk_first_layer(part_.chunks - 1) + part_.num_layers;
  STRATA_CHECK(part_.first_layer >= 0 && part_.num_layers >= 0 && end <= s.layers, internal, "partition layers [",
               part_.first_layer, ", ", end, ") outside the model's ", s.layers, " layers");
  const int64_t c = s.hidden;
  const int tp = part_.tensor_size;
  STRATA_CHECK(tp >= 1 && part_.tensor_rank >= 0 && part_.tensor_rank < tp, internal, "tensor rank ",
               part_.tensor_rank, " outside a tensor group of ", tp);
  STRATA_CHECK(s.heads % tp == 0 && s.padded_vocab() % tp == 0, internal, "tensor size ", tp,
               " must divide the heads (", s.heads, ") and the padded vocabulary (", s.padded_vocab(), ")");
  vocab_slice_ = s.padded_vocab() / tp;
  using Split = ParamTensor::Split;
  index_.assign(part_.local_layers() + 1, {});
  for (auto& row : index_) row.fill(-1);
  if (part_.has_embedding) {
    add(ParamKind::wte, -1, {s.padded_vocab(), c}, true, ParamInit::normal, Split::rows);
    add(ParamKind::wpe, -1, {s.seq_len, c}, false, ParamInit::normal);
  }
  for (int local = 0; local < part_.local_layers(); ++local) {
    const int l = part_.chunk_first_layer(local / part_.num_layers) + local % part_.num_layers;
    adding_range_ = local + 1;
    add(ParamKind::ln1_w, l, {c}, false, ParamInit::ones);
    add(ParamKind::ln1_b, l, {c}, false, ParamInit::zeros);
    add(ParamKind::qkv_w, l, {3 * c, c}, true, ParamInit::normal, Split::rows, 3);
    add(ParamKind::qkv_b, l, {3 * c}, false, ParamInit::zeros, Split::rows, 3);
    add(ParamKind::attn_proj_w, l, {c, c}, true, ParamInit::residual_normal, Split::cols);
    add(ParamKind::attn_proj_b, l, {c}, false, ParamInit::zeros);
    add(ParamKind::ln2_w, l, {c}, false, ParamInit::ones);
    add(ParamKind::ln2_b, l, {c}, false, ParamInit::zeros);
    add(ParamKind::fc_w, l, {4 * c, c}, true, ParamInit::normal, Split::rows);
    add(ParamKind::fc_b, l, {4 * c}, false, ParamInit::zeros, Split::rows);
    add(ParamKind::fc_proj_w, l, {c, 4 * c}, true, ParamInit::residual_normal, Split::cols);
    add(ParamKind::fc_proj_b, l, {c}, false, ParamInit::zeros);
  }
  adding_range_ = part_.local_layers() + 1;
  if (part_.has_head) {
    add(ParamKind::lnf_w, -1, {c}, false, ParamInit::ones);
    add(ParamKind::lnf_b, -1, {c}, false, ParamInit::zeros);
    // The last pipeline stage's own copy of the tied output projection (initialized like wte: same name).
    if (!part_.has_embedding) add(ParamKind::wte, -1, {s.padded_vocab(), c}, true, ParamInit::normal, Split::rows);
  }
}

void ParamLayout::add(ParamKind kind, int layer, std::vector<int64_t> full_shape, bool decay, ParamInit init,
                      ParamTensor::Split split, int64_t blocks) {
  const int tp = part_.tensor_size;
  std::vector<int64_t> shape = full_shape;
  if (tp == 1) split = ParamTensor::Split::none;
  ParamTensor t;
  t.kind = kind;
  t.layer = layer;
  t.split = split;
  if (split == ParamTensor::Split::rows) {
    STRATA_CHECK(shape[0] % (blocks * tp) == 0, internal, "cannot split the ", full_shape[0], " rows of ",
                 param_kind_name(kind), " in ", blocks, " blocks over ", tp, " tensor ranks");
    t.row_block = shape[0] / (blocks * tp);
    shape[0] /= tp;
  } else if (split == ParamTensor::Split::cols) {
    STRATA_CHECK(shape.size() == 2 && shape[1] % tp == 0, internal, "cannot split the columns of ",
                 param_kind_name(kind), " over ", tp, " tensor ranks");
    shape[1] /= tp;
  }
  t.shape = std::move(shape);
  t.full_shape = std::move(full_shape);
  t.count = 1;
  for (int64_t d : t.shape) t.count *= static_cast<std::size_t>(d);
  t.offset = total_;
  t.weight_decay = decay;
  t.init = init;
  t.range = adding_range_;
  total_ += t.count;
  segments_.push_back({t.offset, t.count, decay});
  const int row = layer < 0 ? 0 : part_.local_index(layer) + 1;
  index_[row][static_cast<int>(kind)] = static_cast<int>(tensors_.size());
  tensors_.push_back(std::move(t));
}

std::size_t ParamLayout::full_index(const ParamTensor& t, std::size_t i) const {
  const std::size_t tp = static_cast<std::size_t>(part_.tensor_size), rank = static_cast<std::size_t>(part_.tensor_rank);
  const std::size_t cols = t.shape.size() == 2 ? static_cast<std::size_t>(t.shape[1]) : 1;
  const std::size_t r = i / cols, c = i % cols;
  switch (t.split) {
    case ParamTensor::Split::none:
      return i;
    case ParamTensor::Split::rows: {
      const std::size_t rb = static_cast<std::size_t>(t.row_block);
      const std::size_t full_row = (r / rb) * rb * tp + rank * rb + r % rb;
      return full_row * cols + c;
    }
    case ParamTensor::Split::cols:
      return r * cols * tp + rank * cols + c;
  }
  return i;
}

const ParamTensor& ParamLayout::get(ParamKind kind, int layer) const {
  const int row = layer < 0 ? 0 : part_.local_index(layer) + 1;
  // A block not held has local_index -1, i.e. row 0: the embedding/head row must not answer for it.
  const bool held = layer < 0 || row > 0;
  const int idx = held && row < static_cast<int>(index_.size()) ? index_[row][static_cast<int>(kind)] : -1;
  STRATA_CHECK(idx >= 0, internal, "parameter ", param_kind_name(kind), " of layer ", layer,
               " is not held by this partition");
  return tensors_[idx];
}

ParamLayout::Range ParamLayout::embedding_range() const {
  if (!part_.has_embedding) return {};
  const ParamTensor& wpe = get(ParamKind::wpe);
  return {0, wpe.offset + wpe.count};
}

ParamLayout::Range ParamLayout::block_range(int layer) const {
  const ParamTensor& first = get(ParamKind::ln1_w, layer);
  const ParamTensor& last = get(ParamKind::fc_proj_b, layer);
  return {first.offset, last.offset + last.count - first.offset};
}

ParamLayout::Range ParamLayout::range(int index) const {
  STRATA_CHECK(index >= 0 && index < num_ranges(), internal, "parameter range ", index, " outside [0, ", num_ranges(), ")");
  if (index == 0) return embedding_range();
  if (index == num_ranges() - 1) return head_range();
  const int local = index - 1;
  return block_range(part_.chunk_first_layer(local / part_.num_layers) + local % part_.num_layers);
}

ParamLayout::Range ParamLayout::head_range() const {
  if (!part_.has_head) return {};
  const ParamTensor& w = get(ParamKind::lnf_w);
  return {w.offset, total_ - w.offset};
}

}  // namespace strata
