// param_layout.h — where every parameter lives in a model partition's flat buffer.
//
// Parameters are grouped per layer, in this order: [embedding: wte (Vp,C), wpe (T,C)], then for each
// block l held (in chunk order, see ModelPartition): ln1_w (C), ln1_b (C), qkv_w (3C,C), qkv_b (3C), attn_proj_w (C,C), attn_proj_b (C),
// ln2_w (C), ln2_b (C), fc_w (4C,C), fc_b (4C), fc_proj_w (C,4C), fc_proj_b (C), then [head: lnf_w (C),
// lnf_b (C)]. The output projection is tied to wte. A partition (a pipeline stage) holds a contiguous
// range of blocks per model chunk, plus the embedding if it is the first stage and the head if it is the
// last, so a stage's parameters, gradients and optimizer state are each one contiguous buffer, and the fused
// AdamW runs over it with one segment per tensor (weight decay on matrices only). A last stage without
// the embedding holds its own copy of wte after lnf_b (in the head range), for the tied output
// projection; the trainer keeps the two copies equal by summing their gradients over the embedding group.
//
// Tensor parallelism (Megatron-LM, arXiv 1909.08053) with T = tensor_size ranks, rank t, hidden C:
// shapes in the list above are the full shapes; a tensor rank holds
//   column-parallel (rows split)  qkv_w (3C/T, C), qkv_b (3C/T): the q, k and v rows of its heads,
//                                 [q | k | v] of the local heads, full row part*C + t*C/T + r;
//                                 fc_w (4C/T, C), fc_b (4C/T): full row t*4C/T + r;
//                                 wte (Vp/T, C): the vocabulary slice [t*Vp/T, (t+1)*Vp/T);
//   row-parallel (columns split)  attn_proj_w (C, C/T), fc_proj_w (C, 4C/T): full column t*cols + c;
//   replicated                    wpe, LayerNorms, attn_proj_b, fc_proj_b (identical on every rank).
// full_index() maps a local element to its index in the full tensor (a bijection over the T ranks).
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
  ParamKind kind = ParamKind::wte;
  int layer = -1;                // block index, -1 for embedding/head tensors
  std::vector<int64_t> shape;    // local shape (rows, cols) or (n)
  std::size_t offset = 0;        // in floats, within the partition's buffer
  std::size_t count = 0;
  bool weight_decay = false;     // matrices decay; biases, LayerNorm and position embeddings do not
  ParamInit init = ParamInit::zeros;
  // Tensor-parallel split of the full tensor: none (replicated), rows (column-parallel layers, the
  // vocabulary) or cols (row-parallel layers). Rows split in blocks of row_block rows: the full tensor
  // is nb blocks of T*row_block rows, of which rank t holds rows [t*row_block, (t+1)*row_block) of each.
  enum class Split { none, rows, cols };
  Split split = Split::none;
  int64_t row_block = 0;
  std::vector<int64_t> full_shape;  // shape of the full (unsharded) tensor
  int range = 0;                 // ParamLayout::range(range) holds this tensor
  std::size_t full_count() const {
    std::size_t n = 1;
    for (int64_t d : full_shape) n *= static_cast<std::size_t>(d);
    return n;
  }
  std::string name() const;      // "h.3.attn.c_attn.weight"-style name (HF GPT-2 naming)
};

// Which part of the model one rank holds. The default is the whole model. A pipeline rank holds
// `chunks` model chunks of num_layers blocks each: chunk c is blocks [chunk_first_layer(c),
// chunk_first_layer(c) + num_layers) (one chunk: plain pipeline stages; more: the interleaved schedule's
// virtual stages, chunk_stride = pipeline x num_layers apart). The embedding belongs to chunk 0, the head
// to the last chunk. The flat buffer holds the embedding, the blocks chunk by chunk, then the head.
struct ModelPartition {
  int first_layer = 0;
  int num_layers = -1;  // blocks per chunk; -1: all layers (one chunk)
  int chunks = 1;
  int chunk_stride = 0;  // blocks from one chunk's first block to the next chunk's
  bool has_embedding = true;
  bool has_head = true;
  int tensor_rank = 0;  // this rank's slice of the tensor-parallel tensors (see the top of this file)
  int tensor_size = 1;  // must divide heads and the padded vocabulary

  int chunk_first_layer(int chunk) const { return first_layer + chunk * chunk_stride; }
  int local_layers() const { return chunks * num_layers; }
  // Block `layer`'s position among this partition's blocks (chunk-major), -1 when not held.
  int local_index(int layer) const;
};

// Pipeline stage `stage` of `stages` with `chunks` chunks per stage (the interleaved schedule's virtual
// stages; 1 otherwise) of a `layers`-block model: chunk c is virtual stage c*stages + stage and holds
// layers / (stages*chunks) blocks; the embedding is on stage 0, the head on stage stages - 1. Throws a
// config error when the blocks do not split evenly. Tensor rank and size stay 0 and 1.
ModelPartition pipeline_partition(int layers, int stages, int stage, int chunks = 1);

class ParamLayout {
 public:
  ParamLayout(const GptShape& shape, const ModelPartition& part);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::size_t total() const { return total_; }
  const std::vector<ParamSegment>& segments() const { return segments_; }
  const ParamTensor& get(ParamKind kind, int layer = -1) const;
  const ModelPartition& partition() const { return part_; }
  // Index in the full tensor of local element i of t (i itself for replicated tensors).
  std::size_t full_index(const ParamTensor& t, std::size_t i) const;
  // This rank's slice of the (padded) vocabulary: [vocab_start(), vocab_start() + vocab_slice()).
  int vocab_slice() const { return vocab_slice_; }
  int vocab_start() const { return part_.tensor_rank * vocab_slice_; }

  // Contiguous [offset, offset + count) ranges of the flat buffer (count 0 when not held): the units in
  // which gradients become ready during backward (head first, blocks last to first, embedding last).
  struct Range {
    std::size_t offset = 0, count = 0;
  };
  Range embedding_range() const;
  Range block_range(int layer) const;
  Range head_range() const;  // with a stage's wte copy when it has no embedding
  // The same ranges by index: 0 the embedding, 1 + l local block l (ModelPartition::local_index: chunk
  // by chunk), local_layers() + 1 the head (empty ranges included), the units in which ZeRO-3 gathers
  // parameters (ParamTensor::range).
  int num_ranges() const { return part_.local_layers() + 2; }
  Range range(int index) const;

 private:
  void add(ParamKind kind, int layer, std::vector<int64_t> full_shape, bool decay, ParamInit init,
           ParamTensor::Split split = ParamTensor::Split::none, int64_t blocks = 1);

  ModelPartition part_;
  std::vector<ParamTensor> tensors_;
  std::vector<std::array<int, kParamKinds>> index_;  // [local layer + 1][kind] -> tensor index, -1 none
  std::size_t total_ = 0;
  int vocab_slice_ = 0;
  int adding_range_ = 0;  // range of the tensors add() appends (construction only)
  std::vector<ParamSegment> segments_;
};

const char* param_kind_name(ParamKind kind);

}  // namespace strata
