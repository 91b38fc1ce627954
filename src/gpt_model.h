// gpt_model.h — the GPT model (SPEC section 4) on a Backend, forward and backward written out by hand.
//
// The model is built from stage-sized pieces so pipeline stages can run them separately later:
// embed_forward -> block_forward (per layer) -> head_forward (final LayerNorm, tied output projection,
// fused cross-entropy), and backward in reverse. The residual-stream gradient lives in one buffer
// `dres` that every block's two LayerNorm backwards accumulate into (kernels/backend.h conventions).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "src/gpt_shape.h"
#include "src/param_layout.h"

namespace strata {

// Activation recompute (train.recompute): what the forward keeps for backward.
//  none      every block keeps its activations (about 16 x B x T x C floats per block);
//  selective the attention output is recomputed from the kept qkv and log-sum-exp (the attention core
//            is flash-style, so this saves B x T x C per block, not Megatron's T x T);
//  full      only each block's input is kept; the block's forward runs again right before its backward.
// Recompute repeats deterministic kernels on the same inputs, so results are bit-identical to none.
enum class Recompute { none, selective, full };
Recompute parse_recompute(const std::string& name);  // "none" | "selective" | "full"

class GptModel {
 public:
  // micro_batch: B of every forward/backward (activations are sized for it).
  GptModel(Backend& backend, const GptShape& shape, const ModelPartition& partition, int micro_batch,
           Recompute recompute = Recompute::none);

  const GptShape& shape() const { return shape_; }
  const ParamLayout& layout() const { return layout_; }
  int micro_batch() const { return b_; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  std::size_t num_params() const { return layout_.total(); }

  void set_parameters(const std::vector<float>& host);  // layout().total() floats
  std::vector<float> get_parameters() const;
  std::vector<float> get_gradients() const;
  void zero_grads() { grads_.zero(); }

  // Forward over one micro-batch (tokens, targets: host arrays of B*T ids). Returns the summed loss over
  // the B*T positions. With backward=true also runs the backward pass, accumulating into grads with the
  // loss scaled by dloss (e.g. 1 / (B*T*micro_batches) for the mean over a global batch).
  double forward_backward(const int32_t* tokens, const int32_t* targets, bool backward, float dloss);

  // Called during backward, on the last use of each gradient range (ParamLayout::Range): the head, each
  // block from last to first, then the embedding. Data parallelism starts its bucket reductions here
  // so that they overlap the rest of the backward pass. Empty function: no calls.
  using GradsReady = std::function<void(const ParamLayout::Range&)>;
  void set_grads_ready(GradsReady hook) { grads_ready_ = std::move(hook); }

  // Activation bytes held for one micro-batch (reported at start-up).
  std::size_t activation_bytes() const;

 private:
  struct BlockActs {
    DeviceBuffer<float> ln1, ln1_mean, ln1_rstd;  // (BT,C), (BT), (BT)
    DeviceBuffer<float> qkv;                      // (BT,3C)
    DeviceBuffer<float> atty, lse;                // (BT,C), (B,NH,T)
    DeviceBuffer<float> x_mid;                    // (BT,C) residual after attention
    DeviceBuffer<float> ln2, ln2_mean, ln2_rstd;  // (BT,C), (BT), (BT)
    DeviceBuffer<float> fch, fch_gelu;            // (BT,4C) each
  };

  BlockActs& acts(int local) { return acts_[recompute_ == Recompute::full ? 0 : local]; }
  float* atty(int local) { return recompute_ == Recompute::none ? acts_[local].atty.data() : atty_shared_.data(); }

  const float* p(ParamKind k, int layer = -1) const { return params_.data() + layout_.get(k, layer).offset; }
  float* g(ParamKind k, int layer = -1) { return grads_.data() + layout_.get(k, layer).offset; }

  void embed_forward();
  void block_forward(int layer, const float* x_in, float* x_out);
  double head_forward(bool backward, float dloss);
  void head_backward();
  void block_backward(int layer, const float* x_in);
  void embed_backward();

  void notify(const ParamLayout::Range& r) {
    if (grads_ready_ && r.count > 0) grads_ready_(r);
  }

  Backend& be_;
  GradsReady grads_ready_;
  GptShape shape_;
  ParamLayout layout_;
  int b_;
  DeviceBuffer<float> params_, grads_;
  DeviceBuffer<int32_t> tokens_, targets_;             // (BT)
  std::vector<DeviceBuffer<float>> x_;                 // residual stream: x_[l] is the input of block l
  Recompute recompute_;
  std::vector<BlockActs> acts_;                        // one per block (none, selective) or one shared (full)
  DeviceBuffer<float> atty_shared_;                    // (BT,C) attention output when recomputed
  DeviceBuffer<float> lnf_, lnf_mean_, lnf_rstd_;      // (BT,C), (BT), (BT)
  DeviceBuffer<float> logits_;                         // (BT,Vp); holds dlogits after a backward pass
  DeviceBuffer<float> losses_, loss_sum_;              // (BT), (1)
  DeviceBuffer<float> dres_, dln_, dqkv_, datty_, dfch_;  // backward scratch
};

}  // namespace strata
