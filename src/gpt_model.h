// gpt_model.h — the GPT model (SPEC section 4) on a Backend, forward and backward written out by hand.
//
// The model is built from stage-sized pieces so pipeline stages can run them separately:
// embed_forward -> block_forward (per layer) -> head_forward (final LayerNorm, tied output projection,
// fused cross-entropy), and backward in reverse. A pipeline rank (ModelPartition: one range of blocks per
// model chunk, the embedding on chunk 0 of the first stage, the head on the last chunk of the last stage)
// runs forward_stage / backward_stage per (chunk, micro-batch slot): a slot keeps one micro-batch's
// activations of one chunk (all chunks have the same number of blocks, so any slot serves any chunk),
// so up to slots() chunk-micro-batches can be in flight (sized from the schedule's peak,
// parallel/pipeline_schedule.h: 1F1B needs min(P - stage, M), interleaved 1F1B up to (P - 1)*2 + (V - 1)*P
// + 1 on rank 0, each 1/V of a stage's activations). The residual-stream gradient lives
// in one buffer `dres` that every block's two LayerNorm backwards accumulate into (kernels/backend.h
// conventions).
//
// Tensor parallelism (Megatron-LM, arXiv 1909.08053; partition().tensor_size = T > 1, tensor group
// passed in): each block is  ln1 -> qkv (column-parallel, the rank's NH/T heads) -> attention on local
// heads -> attn_proj (row-parallel: partial sums, all-reduced, bias added once on tensor rank 0
// before the all-reduce) -> residual; ln2 -> fc (column-parallel) -> GELU -> fc_proj (row-parallel,
// all-reduce) -> residual. The embedding is vocab-parallel (each rank embeds the tokens of its slice,
// rank 0 adds wpe, all-reduce), the tied output projection gives local logits (BT, Vp/T) and the
// cross-entropy is vocab-parallel (three passes, two all-reduces of per-row statistics, the logits are
// never gathered). Backward: the input gradient of every column-parallel matmul (qkv, fc, the output
// projection) is a partial sum, all-reduced before its LayerNorm backward; row-parallel matmuls need
// no communication. Hence the residual stream x, its gradient dres and every LayerNorm input/output
// are replicated (identical on every tensor rank), and so are the gradients of the replicated
// parameters: LayerNorms (from the replicated dln and x), the row-parallel biases (column sums of the
// replicated dres), wpe (from dres). The tied wte slice sums the output projection's and the
// embedding's gradient locally: both concern this rank's vocabulary rows.
//
// Sequence parallelism (Korthikanti et al. 2022, arXiv 2205.05198; sequence_parallel with T > 1): the
// residual stream x, its gradient dres, every LayerNorm and the bias+residual adds hold only this rank's
// contiguous 1/T of the B*T rows (rows [t*BT/T, (t+1)*BT/T) of the micro-batch's sequences laid end to
// end; parallel/sequence_parallel.h). Each all-reduce above becomes half of one: the LayerNorm output is
// all-gathered along the rows before the column-parallel qkv, fc and output projection (gather_rows),
// and the partial sums of the row-parallel attn_proj and fc_proj and of the vocab-parallel embedding are
// reduce-scattered into the rank's rows (scatter_sum_rows). Backward mirrors it: the column-parallel
// input gradients are reduce-scattered, the residual gradient is all-gathered before the row-parallel
// matmuls and the embedding backward. Only the rank's rows of ln1/ln2 are kept; the backward gathers
// them again (one extra all-gather per column-parallel matmul, as Megatron does), so the per-block
// activations that were replicated (x, ln1, x_mid, ln2 and the LayerNorm statistics) shrink by T.
// Gradients stay as without it: row-parallel bias, wpe and wte come from the gathered (full) residual
// gradient, and the LayerNorm weight and bias gradients, partial over the rank's rows, are summed over
// the tensor group per micro-batch (one all-reduce of 4C floats per block, 2C for the final LayerNorm)
// before they are added, so every replicated gradient is identical on every tensor rank and the
// trainer's norm and data-parallel rules are unchanged. With T == 1 the flag has no effect (Megatron
// likewise turns it off). Pipeline stages exchange only the rank's rows (stage_activation_floats()).
//
// Mixed precision (train.precision=bf16, Precision::bf16): the fp32 parameters stay the master weights
// (the optimizer updates them, ZeRO shards them as in fp32); the model keeps a bf16 working copy of its
// local parameters, laid out like params() in half the bytes, which every linear layer's GEMM reads
// (Backend::matmul_forward_bf16 / matmul_backward_bf16). refresh_working_weights() rounds the master
// weights into it after each change (set_parameters does it itself; the trainer calls it after the
// optimizer step and a checkpoint load). With a parameter source (ZeRO-3) there is no whole copy: each
// gathered range is rounded into a bf16 buffer of its own when the model acquires it, freed on release.
// The activations that only feed GEMMs and the attention are stored in bf16 (ActBuffer): the LayerNorm
// outputs ln1, ln2 and lnf, qkv, the attention output, the MLP's pre-activation and its GELU output; each
// is rounded once by the op that writes it (kernels/backend.h, "bf16"), and sequence parallelism gathers
// the LayerNorm rows in bf16 (half the bytes). The residual stream x, x_mid (and the pipeline messages, which
// are residual rows), the logits, every gradient and the LayerNorm and softmax statistics stay fp32;
// output gradients are rounded to bf16 where they enter a GEMM; GEMMs accumulate in fp32; weight and bias
// gradients accumulate in fp32; LayerNorm, softmax/cross-entropy, the embedding lookup and every
// reduction compute in fp32. A block then keeps 2 fp32 + 14 bf16 values per row and hidden unit instead
// of 16 fp32 (activation_bytes()).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "parallel/communicator.h"
#include "parallel/sequence_parallel.h"
#include "src/activation_buffer.h"
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

// GEMM precision (train.precision): fp32 everywhere, or bf16 GEMM operands from a bf16 working copy of
// the weights (see the top of this file).
enum class Precision { fp32, bf16 };
Precision parse_precision(const std::string& name);  // "fp32" | "bf16"
const char* precision_name(Precision precision);

class GptModel {
 public:
  // micro_batch: B of every forward/backward (activations are sized for it). tensor: the tensor-parallel
  // group, required when partition.tensor_size > 1 (its size and rank must match the partition's).
  // slots: chunk-micro-batches whose activations are kept at once (pipeline stages; 1 otherwise).
  // sequence_parallel: split the residual stream's rows over the tensor group (see the top of this file;
  // B*T must then be a multiple of T); ignored on one tensor rank. precision: of the GEMMs.
  GptModel(Backend& backend, const GptShape& shape, const ModelPartition& partition, int micro_batch,
           Recompute recompute = Recompute::none, Communicator* tensor = nullptr, int slots = 1,
           bool sequence_parallel = false, Precision precision = Precision::fp32);

  const GptShape& shape() const { return shape_; }
  const ParamLayout& layout() const { return layout_; }
  int micro_batch() const { return b_; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  std::size_t num_params() const { return layout_.total(); }

  Precision precision() const { return precision_; }
  // bf16: rounds params() into the bf16 working copy the GEMMs read. Call after anything but
  // set_parameters writes params() (optimizer step, data-parallel gather, checkpoint load). No-op in fp32
  // and with a parameter source (each gathered range is rounded when acquired).
  void refresh_working_weights();
  // Bytes of the bf16 working copy (0 in fp32 and with a parameter source).
  std::size_t working_weight_bytes() const { return params16_.bytes(); }

  void set_parameters(const std::vector<float>& host);  // layout().total() floats; refreshes the bf16 copy
  std::vector<float> get_parameters() const;
  std::vector<float> get_gradients() const;
  // The logits (B*T, Vp/T) of the last forward_backward with backward=false (after a backward pass the
  // buffer holds their gradient instead). Padding columns are not masked here.
  std::vector<float> get_logits() const;
  void zero_grads() { grads_.zero(); }

  // Forward over one micro-batch (tokens, targets: host arrays of B*T ids). Returns the summed loss over
  // the B*T positions. With backward=true also runs the backward pass, accumulating into grads with the
  // loss scaled by dloss (e.g. 1 / (B*T*micro_batches) for the mean over a global batch).
  double forward_backward(const int32_t* tokens, const int32_t* targets, bool backward, float dloss);

  // ---- pipeline stages (driven by src/pipeline_executor.h) ----
  int chunks() const { return layout_.partition().chunks; }
  int slots() const { return static_cast<int>(x_.size()); }
  // Forward of `chunk`'s blocks on the micro-batch held in `slot`. Chunk 0 of the first stage embeds
  // `tokens`; another chunk reads its input from stage_input(slot), filled beforehand by the
  // receive. The last chunk of the last stage computes the loss against `targets` (returns its sum over
  // the B*T positions; other chunks return 0) and, with backward, the logits' gradient scaled by dloss.
  // That gradient and the final LayerNorm's activations exist once, so there a slot's backward_stage must
  // come before the next forward_stage with backward (both 1F1B schedules run them back to back).
  double forward_stage(int chunk, int slot, const int32_t* tokens, const int32_t* targets, bool backward, float dloss);
  // Backward of `chunk` for `slot`, accumulating into grads: the loss chunk starts from its logits'
  // gradient, another from output_grad() (filled by the receive). Afterwards input_grad() holds the
  // gradient of the chunk's input, for the previous virtual stage (until the next backward_stage).
  void backward_stage(int chunk, int slot);
  // Chunk boundaries hold this rank's rows: (BT,C), or (BT/T,C) with sequence parallelism.
  float* stage_input(int slot) { return x_[slot].front().data(); }         // input of the chunk's first block
  const float* stage_output(int slot) { return x_[slot].back().data(); }   // output of the chunk's last block
  float* output_grad() { return dres_.data(); }
  const float* input_grad() { return dres_.data(); }
  std::size_t stage_activation_floats() const { return rows_.local_floats(); }
  bool sequence_parallel() const { return sp_; }

  // Called during backward, on the last use of each gradient range (ParamLayout::Range): the head, each
  // block from last to first, then the embedding. Data parallelism starts its bucket reductions here
  // so that they overlap the rest of the backward pass. Empty function: no calls.
  using GradsReady = std::function<void(const ParamLayout::Range&)>;
  void set_grads_ready(GradsReady hook) { grads_ready_ = std::move(hook); }

  // Activation bytes held for all slots (reported at start-up).
  std::size_t activation_bytes() const;

  // Where the parameters come from. By default the model holds all of them in params(). With a source
  // (ZeRO-3, parallel/zero3_params.h) it holds none: before the forward or backward of range i
  // (ParamLayout::range(i)) reads parameters, the model calls acquire(i, next), which returns the range's
  // count floats (element k is flat offset range.offset + k), valid until release(i). `next` is the
  // range this pass acquires after i (-1: none or not known here), so the source can prefetch it. The
  // head also holds the embedding range while it runs when the stage has both (the tied wte).
  // get_parameters() then acquires every range in turn (collective for a collective source).
  struct ParamSource {
    std::function<const float*(int range, int next)> acquire;
    std::function<void(int range)> release;
  };
  // Frees params(): from now on the parameters come from `source` only.
  void set_param_source(ParamSource source);
  bool has_param_source() const { return static_cast<bool>(source_.acquire); }
  // Where the gradients go. By default they accumulate over micro-batches in grads(). With a sink (ZeRO-3,
  // parallel/zero3_grads.h) the model holds none: before a backward writes range i's gradients it calls
  // acquire(i) for a zeroed buffer of the range's count floats, and release(i) once this backward is
  // done with the range (the embedding's is held from the head's backward to the embedding's when the
  // stage has both: the tied wte). Every backward then hands over its own gradients, and the GradsReady
  // hook is not needed.
  struct GradSink {
    std::function<float*(int range)> acquire;
    std::function<void(int range)> release;
  };
  // Frees grads(): from now on the gradients go to `sink` only.
  void set_grad_sink(GradSink sink);

 private:
  // R = this rank's rows: BT, or BT/T with sequence parallelism.
  // ActBuffers are in the storage precision (bf16 under train.precision=bf16), the rest fp32.
  struct BlockActs {
    ActBuffer ln1;                                // (R,C)
    DeviceBuffer<float> ln1_mean, ln1_rstd;       // (R), (R)
    ActBuffer qkv;                                // (BT,3C/T)
    ActBuffer atty;                               // (BT,C/T)
    DeviceBuffer<float> lse;                      // (B,NH/T,T)
    DeviceBuffer<float> x_mid;                    // (R,C) residual after attention
    ActBuffer ln2;                                // (R,C)
    DeviceBuffer<float> ln2_mean, ln2_rstd;       // (R), (R)
    ActBuffer fch, fch_gelu;                      // (BT,4C/T) each
  };

  void check_slot(int chunk, int slot) const;
  bool embeds(int chunk) const { return chunk == 0 && layout_.partition().has_embedding; }
  bool has_loss(int chunk) const { return chunk == chunks() - 1 && layout_.partition().has_head; }

  BlockActs& acts(int slot, int local) { return recompute_ == Recompute::full ? acts_[0][0] : acts_[slot][local]; }
  ActRef atty(int slot, int local) {
    return recompute_ == Recompute::none ? acts_[slot][local].atty.ref() : atty_shared_.ref();
  }
  bool bf16_storage() const { return precision_ == Precision::bf16; }

  const float* p(ParamKind k, int layer = -1) const {
    const ParamTensor& t = layout_.get(k, layer);
    return range_params_[t.range] + (t.offset - range_offset_[t.range]);
  }
  // bf16: the working copy of a weight (valid while its range is in use, like p()).
  const bf16* w16(ParamKind k, int layer = -1) const {
    const ParamTensor& t = layout_.get(k, layer);
    return range_params16_[t.range] + (t.offset - range_offset_[t.range]);
  }
  float* g(ParamKind k, int layer = -1) {
    const ParamTensor& t = layout_.get(k, layer);
    return range_grads_[t.range] + (t.offset - range_offset_[t.range]);
  }

  // The ops whose activations are in the storage precision: fp32 ops, or the backend's bf16 ops.
  // Causal attention of this rank's heads.
  void attention_forward(ActRef out, float* lse, ActRef qkv);
  void attention_backward(float* dqkv, const float* dout, ActRef out, const float* lse, ActRef qkv);
  // LayerNorm of `rows` rows of the residual stream with the weights `w` (bias kind = w + 1) of `layer`.
  void layernorm_forward(ActRef out, float* mean, float* rstd, const float* inp, ParamKind w, int layer, int rows);

  // The linear layers: out(n,oc) = inp(n,c) @ W^T + bias with W the weight `w` of `layer`, out fp32 or (the
  // second form) in the storage precision; backward: dinp (=, may be null), dW (+=, its gradient g(w, layer)),
  // dbias (+=, may be null).
  void linear_forward(float* out, ActRef inp, ParamKind w, int layer, const float* bias, int n, int c, int oc);
  void linear_forward(ActRef out, ActRef inp, ParamKind w, int layer, const float* bias, int n, int c, int oc);
  void linear_backward(float* dinp, float* dbias, const float* dout, ActRef inp, ParamKind w, int layer, int n, int c,
                       int oc);
  // The MLP's fc and GELU: pre = fc(inp) (kept for backward), out = gelu(pre); and the backward from the
  // gradient dout of fc_proj's output to dpre (n, oc) = the gradient wrt pre (accumulating fc_proj's dW
  // and dbias), fc_proj's input being out. bf16: the backend's fused ops.
  void mlp_fc_gelu_forward(ActRef out, ActRef pre, ActRef inp, int layer, int n, int c, int oc);
  void mlp_proj_gelu_backward(float* dpre, const float* dout, ActRef out, ActRef pre, int layer, int n, int oc, int c);

  void embed_forward(int slot);
  // layer: the global block index; local: its index within its chunk.
  void block_forward(int slot, int layer, int local, const float* x_in, float* x_out);
  double head_forward(int slot, bool backward, float dloss);
  void head_backward(int slot);
  void block_backward(int slot, int layer, int local, const float* x_in);
  void embed_backward(int slot);

  // Sums data(n) over the tensor group in place (no-op on one tensor rank).
  void tensor_all_reduce(float* data, std::size_t n, ReduceOp op = ReduceOp::sum);
  bool tensor_parallel() const { return tp_size_ > 1; }

  // ---- the tensor-parallel boundaries, with or without sequence parallelism ----
  // All rows of the (R,C) matrix `local`: all-gathered into full_ (full16_ for bf16 rows) with sequence
  // parallelism, else local itself.
  const float* gather(const float* local);
  ActRef gather(ActRef local);
  // Where a row-parallel matmul (or the vocab-parallel embedding) writes its partial sums over all BT
  // rows: full_ (sequence parallel), else `out` itself; finish_row_parallel(out) then leaves this rank's
  // rows of their sum in out (reduce-scatter, or all-reduce in place).
  float* row_parallel_out(float* out) { return sp_ ? full_.data() : out; }
  void finish_row_parallel(float* out);
  // dln_ (BT,C) holds a column-parallel matmul's partial input gradient: sums it over the group and
  // returns this rank's (R,C) rows of the sum (reduce-scatter in place, or all-reduce).
  float* finish_column_grad();
  // LayerNorm weight/bias gradients: the gradients themselves, or with sequence parallelism (partial
  // over this rank's rows) slot i of the scratch ln_grads_, which add_layernorm_grads sums over the
  // tensor group and adds to the gradients of the LayerNorms `w` (weight kinds, bias kind = w + 1).
  // The bias kind of a LayerNorm weight kind (ParamKind lists each LayerNorm's weight, then its bias).
  static ParamKind layernorm_bias(ParamKind w) { return static_cast<ParamKind>(static_cast<int>(w) + 1); }
  float* ln_dw(int i, ParamKind w, int layer) { return sp_ ? ln_grads_.data() + 2 * i * shape_.hidden : g(w, layer); }
  float* ln_db(int i, ParamKind w, int layer) {
    return sp_ ? ln_grads_.data() + (2 * i + 1) * shape_.hidden : g(layernorm_bias(w), layer);
  }
  void add_layernorm_grads(std::initializer_list<ParamKind> w, int layer);

  // Makes range i's parameters readable through p() until done_params(i) (no-op without a source or
  // for an empty range).
  void use_params(int range, int next);
  void done_params(int range);
  // The same for range i's gradients (no-op without a sink).
  void use_grads(int range);
  void done_grads(int range);

  void notify(const ParamLayout::Range& r) {
    if (grads_ready_ && r.count > 0) grads_ready_(r);
  }

  Backend& be_;
  Communicator* tensor_;
  int tp_rank_, tp_size_;
  int c_local_, heads_local_;  // C/T and NH/T
  bool sp_;                    // sequence parallel (and T > 1)
  GradsReady grads_ready_;
  GptShape shape_;
  ParamLayout layout_;
  int b_;
  RowSplit rows_;  // the (BT,C) residual rows over the tensor group; all of them without sequence parallelism
  DeviceBuffer<float> params_, grads_;
  Precision precision_;
  DeviceBuffer<bf16> params16_;  // bf16 without a source: the working copy, laid out like params_
  ParamSource source_;
  std::vector<const float*> range_params_;  // [range] its parameters (null: not acquired from the source)
  std::vector<const bf16*> range_params16_;          // [range] its bf16 working copy (null in fp32)
  std::vector<DeviceBuffer<bf16>> range_gathered16_;  // bf16 with a source: [range] rounded when acquired
  GradSink sink_;
  std::vector<float*> range_grads_;         // [range] its gradients (null: not acquired from the sink)
  std::vector<std::size_t> range_offset_;   // [range] its flat offset
  std::vector<DeviceBuffer<int32_t>> tokens_;          // [slot] (BT), kept for the embedding backward
  DeviceBuffer<int32_t> targets_;                      // (BT)
  // Residual stream per slot: x_[slot][l] is the input of the chunk's block l, x_[slot][num_layers] the
  // output (num_layers blocks per chunk).
  std::vector<std::vector<DeviceBuffer<float>>> x_;
  Recompute recompute_;
  // [slot][block of the chunk] (none, selective), or one set shared by every block and slot (full:
  // only the block inputs x_ are kept per slot).
  std::vector<std::vector<BlockActs>> acts_;
  int head_slot_ = -1;                                 // slot whose logits' gradient logits_ holds
  ActBuffer atty_shared_;                              // (BT,C/T) attention output when recomputed
  ActBuffer lnf_;                                      // (BT,C) all rows (gathered)
  DeviceBuffer<float> lnf_mean_, lnf_rstd_;            // (R), (R)
  DeviceBuffer<float> logits_;                         // (BT,Vp/T); holds dlogits after a backward pass
  DeviceBuffer<float> losses_, loss_sum_;              // (BT), (1)
  DeviceBuffer<float> ce_max_, ce_stats_;              // vocab-parallel CE: (BT) maxes, (2,BT) sumexp | target
  DeviceBuffer<float> dres_, dln_, dqkv_, datty_, dfch_;  // backward scratch: (R,C), (BT,C), ...
  DeviceBuffer<float> full_;      // sequence parallel: (BT,C) gathered rows or row-parallel partial sums
  DeviceBuffer<bf16> full16_;     // sequence parallel in bf16: (BT,C) gathered LayerNorm rows
  DeviceBuffer<float> ln_grads_;  // sequence parallel: (4,C) partial LayerNorm gradients of one backward
};

}  // namespace strata
