// param_layout.h — where every parameter lives in a model partition's flat buffer.
//
// Parameters are grouped per layer, in this order: [embedding: wte (Vp,C), wpe (T,C)], then for each
// block l: ln1_w (C), ln1_b (C), qkv_w (3C,C), qkv_b (3C), attn_proj_w (C,C), attn_proj_b (C),
// ln2_w (C), ln2_b (C), fc_w (4C,C), fc_b (4C), fc_proj_w (C,4C), fc_proj_b (C), then [head: lnf_w (C),
// lnf_b (C)]. The output projection is tied to wte. A partition (a pipeline stage) holds a contiguous
// range of blocks, plus the embedding if it is the first stage and the head if it is the last, so a
// stage's parameters, gradients and optimizer state are each one contiguous buffer, and the fused
// AdamW runs over it with one segment per tensor (weight decay on matrices only).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "src/gpt_shape.h"

namespace strata {

enum class ParamKind : int {
  wte, wpe,
  ln1_w, ln1_b, qkv_w, qkv_b, attn_proj_w, attn_proj_b, ln2_w, ln2_b, fc_w, fc_b, fc_proj_w, fc_proj_b,
  lnf_w, lnf_b,
};
constexpr int kParamKinds = 16;
constexpr int kBlockKindFirst = static_cast<int>(ParamKind::ln1_w);
constexpr int kBlockKindLast = static_cast<int>(ParamKind::fc_proj_b);

enum class ParamInit { normal, residual_normal, zeros, ones };

struct ParamTensor {
  ParamKind kind;
  int layer = -1;                // block index, -1 for embedding/head tensors
  std::vector<int64_t> shape;    // local shape (rows, cols) or (n)
  std::size_t offset = 0;        // in floats, within the partition's buffer
  std::size_t count = 0;
  bool weight_decay = false;     // matrices decay; biases, LayerNorm and position embeddings do not
  ParamInit init = ParamInit::zeros;
  std::string name() const;      // "h.3.attn.c_attn.weight"-style name (HF GPT-2 naming)
};

// Which part of the model one rank holds. The default is the whole model.
struct ModelPartition {
  int first_layer = 0;
  int num_layers = -1;  // -1: all layers
  bool has_embedding = true;
  bool has_head = true;
};

class ParamLayout {
 public:
  ParamLayout(const GptShape& shape, const ModelPartition& part);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::size_t total() const { return total_; }
  const std::vector<ParamSegment>& segments() const { return segments_; }
  const ParamTensor& get(ParamKind kind, int layer = -1) const;
  const ModelPartition& partition() const { return part_; }

  // Contiguous [offset, offset + count) ranges of the flat buffer (count 0 when not held): the units in
  // which gradients become ready during backward (head first, blocks last to first, embedding last).
  struct Range {
    std::size_t offset = 0, count = 0;
  };
  Range embedding_range() const;
  Range block_range(int layer) const;
  Range head_range() const;

 private:
  void add(ParamKind kind, int layer, std::vector<int64_t> shape, bool decay, ParamInit init);

  ModelPartition part_;
  std::vector<ParamTensor> tensors_;
  std::vector<std::array<int, kParamKinds>> index_;  // [local layer + 1][kind] -> tensor index, -1 none
  std::size_t total_ = 0;
  std::vector<ParamSegment> segments_;
};

const char* param_kind_name(ParamKind kind);

}  // namespace strata
