// gpt_model.cpp — see gpt_model.h.
#include "src/gpt_model.h"

#include <algorithm>
#include <span>

#include "kernels/error.h"
#include "parallel/stream_sync.h"

namespace strata {
namespace {
constexpr float kLayerNormEps = 1e-5f;
}

Recompute parse_recompute(const std::string& name) {
  if (name == "none") return Recompute::none;
  if (name == "selective") return Recompute::selective;
  if (name == "full") return Recompute::full;
  STRATA_THROW(config, "config key train.recompute: must be none, selective or full, found '", name, "'");
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  STRATA_THROW(config, "config key train.precision: must be fp32 or bf16, found '", name, "'");
}

const char* precision_name(Precision precision) { return precision == Precision::bf16 ? "bf16" : "fp32"; }

GptModel::GptModel(Backend& backend, const GptShape& shape, const ModelPartition& partition, int micro_batch,
                   Recompute recompute, Communicator* tensor, int slots, bool sequence_parallel, Precision precision)
    : be_(backend),
      tensor_(tensor),
      tp_rank_(partition.tensor_rank),
      tp_size_(partition.tensor_size),
      c_local_(shape.hidden / std::max(partition.tensor_size, 1)),
      heads_local_(shape.heads / std::max(partition.tensor_size, 1)),
      sp_(sequence_parallel && partition.tensor_size > 1),
      shape_(shape),
      layout_(shape, partition),
      b_(micro_batch),
      precision_(precision),
      recompute_(recompute) {
  STRATA_CHECK(tp_size_ == 1 || (tensor_ != nullptr && tensor_->size() == tp_size_ && tensor_->rank() == tp_rank_),
               internal, "tensor-parallel model of size ", tp_size_, " (rank ", tp_rank_,
               ") needs its tensor group of that size and rank");
  const std::size_t bt = static_cast<std::size_t>(b_) * shape_.seq_len;
  const std::size_t c = shape_.hidden;
  const std::size_t cl = c_local_;  // local width of the column-parallel outputs: C/T
  const std::size_t bnt = static_cast<std::size_t>(b_) * heads_local_ * shape_.seq_len;
  rows_ = sp_ ? row_split(*tensor_, bt, c) : RowSplit{bt, c};
  const std::size_t r = rows_.local_rows();  // rows of the residual stream and LayerNorms held here
  params_ = DeviceBuffer<float>(be_, layout_.total());
  grads_ = DeviceBuffer<float>(be_, layout_.total());
  grads_.zero();
  if (precision_ == Precision::bf16) params16_ = DeviceBuffer<bf16>(be_, layout_.total());
  for (int i = 0; i < layout_.num_ranges(); ++i) {
    range_offset_.push_back(layout_.range(i).offset);
    range_params_.push_back(params_.data() + range_offset_.back());
    range_params16_.push_back(params16_.data() ? params16_.data() + range_offset_.back() : nullptr);
    range_grads_.push_back(grads_.data() + range_offset_.back());
  }
  range_gathered16_.resize(layout_.num_ranges());
  STRATA_CHECK(slots >= 1, internal, "a model needs at least one activation slot, got ", slots);
  targets_ = DeviceBuffer<int32_t>(be_, bt);
  const int nl = layout_.partition().num_layers;
  x_.resize(slots);
  for (int s = 0; s < slots; ++s) {
    tokens_.emplace_back(be_, bt);
    for (int l = 0; l <= nl; ++l) x_[s].emplace_back(be_, r * c);
  }
  if (recompute_ == Recompute::full) {
    acts_.resize(1);
    acts_[0].resize(std::min(nl, 1));
  } else {
    acts_.resize(slots);
    for (auto& per_slot : acts_) per_slot.resize(nl);
  }
  const bool h = bf16_storage();
  if (recompute_ != Recompute::none) atty_shared_ = ActBuffer(be_, bt * cl, h);
  for (auto& per_slot : acts_) {
    for (BlockActs& a : per_slot) {
      a.ln1 = ActBuffer(be_, r * c, h);
      a.ln1_mean = DeviceBuffer<float>(be_, r);
      a.ln1_rstd = DeviceBuffer<float>(be_, r);
      a.qkv = ActBuffer(be_, bt * 3 * cl, h);
      if (recompute_ == Recompute::none) a.atty = ActBuffer(be_, bt * cl, h);
      a.lse = DeviceBuffer<float>(be_, bnt);
      a.x_mid = DeviceBuffer<float>(be_, r * c);
      a.ln2 = ActBuffer(be_, r * c, h);
      a.ln2_mean = DeviceBuffer<float>(be_, r);
      a.ln2_rstd = DeviceBuffer<float>(be_, r);
      a.fch = ActBuffer(be_, bt * 4 * cl, h);
      a.fch_gelu = ActBuffer(be_, bt * 4 * cl, h);
    }
  }
  if (layout_.partition().has_head) {
    lnf_ = ActBuffer(be_, bt * c, h);
    lnf_mean_ = DeviceBuffer<float>(be_, r);
    lnf_rstd_ = DeviceBuffer<float>(be_, r);
    logits_ = DeviceBuffer<float>(be_, bt * layout_.vocab_slice());
  }
  if (tensor_parallel() && layout_.partition().has_head) {
    ce_max_ = DeviceBuffer<float>(be_, bt);
    ce_stats_ = DeviceBuffer<float>(be_, 2 * bt);
  }
  losses_ = DeviceBuffer<float>(be_, bt);
  loss_sum_ = DeviceBuffer<float>(be_, 1);
  dres_ = DeviceBuffer<float>(be_, r * c);
  dln_ = DeviceBuffer<float>(be_, bt * c);
  dqkv_ = DeviceBuffer<float>(be_, bt * 3 * cl);
  datty_ = DeviceBuffer<float>(be_, bt * cl);
  dfch_ = DeviceBuffer<float>(be_, bt * 4 * cl);
  if (sp_) {
    full_ = DeviceBuffer<float>(be_, bt * c);
    if (h) full16_ = DeviceBuffer<bf16>(be_, bt * c);
    ln_grads_ = DeviceBuffer<float>(be_, 4 * c);
  }
}

void GptModel::tensor_all_reduce(float* data, std::size_t n, ReduceOp op) {
  if (!tensor_parallel()) return;
  sync_for(*tensor_, be_);
  tensor_->all_reduce(std::span<float>(data, n), op);
}

const float* GptModel::gather(const float* local) {
  if (!sp_) return local;
  sync_for(*tensor_, be_);  // the communicator reads the rows once the queued kernels wrote them
  gather_rows(*tensor_, rows_, local, full_.data());
  return full_.data();
}

ActRef GptModel::gather(ActRef local) {
  if (!sp_) return local;
  if (local.f != nullptr) {
    gather(local.f);  // into full_
    return {full_.data(), nullptr};
  }
  sync_for(*tensor_, be_);
  gather_rows(*tensor_, rows_, local.h, full16_.data());
  return {nullptr, full16_.data()};
}

void GptModel::finish_row_parallel(float* out) {
  if (!sp_) {
    tensor_all_reduce(out, rows_.full_floats());
    return;
  }
  sync_for(*tensor_, be_);
  scatter_sum_rows(*tensor_, rows_, full_.data(), out);
}

float* GptModel::finish_column_grad() {
  if (!sp_) {
    tensor_all_reduce(dln_.data(), rows_.full_floats());
    return dln_.data();
  }
  float* mine = dln_.data() + rows_.local_offset();
  sync_for(*tensor_, be_);
  scatter_sum_rows(*tensor_, rows_, dln_.data(), mine);  // in place: this rank's rows of dln_
  return mine;
}

void GptModel::add_layernorm_grads(std::initializer_list<ParamKind> w, int layer) {
  if (!sp_) return;
  const std::size_t c = shape_.hidden;
  tensor_all_reduce(ln_grads_.data(), 2 * c * w.size());
  int i = 0;
  for (ParamKind k : w) {
    const ParamKind b = layernorm_bias(k);
    be_.add(g(k, layer), g(k, layer), ln_grads_.data() + 2 * i * c, c);
    be_.add(g(b, layer), g(b, layer), ln_grads_.data() + (2 * i + 1) * c, c);
    ++i;
  }
}

std::size_t GptModel::activation_bytes() const {
  std::size_t bytes = 0;
  for (const auto& per_slot : x_)
    for (const auto& x : per_slot) bytes += x.bytes();
  for (const auto& per_slot : acts_) {
    for (const BlockActs& a : per_slot) {
      for (const ActBuffer* buf : {&a.ln1, &a.qkv, &a.atty, &a.ln2, &a.fch, &a.fch_gelu}) bytes += buf->bytes();
      for (const auto* buf : {&a.ln1_mean, &a.ln1_rstd, &a.lse, &a.x_mid, &a.ln2_mean, &a.ln2_rstd})
        bytes += buf->bytes();
    }
  }
  bytes += atty_shared_.bytes() + lnf_.bytes() + full16_.bytes();
  for (const auto* buf : {&lnf_mean_, &lnf_rstd_, &logits_, &losses_, &ce_max_, &ce_stats_, &dres_, &dln_, &dqkv_,
                          &datty_, &dfch_, &full_, &ln_grads_})
    bytes += buf->bytes();
  return bytes;
}

void GptModel::set_parameters(const std::vector<float>& host) {
  STRATA_CHECK(!has_param_source(), internal, "set_parameters: the parameters come from a source (ZeRO-3 shards)");
  STRATA_CHECK(host.size() == layout_.total(), internal, "set_parameters: expected ", layout_.total(),
               " floats, got ", host.size());
  be_.copy_to_device(params_.data(), host.data(), params_.bytes());
  refresh_working_weights();
}

void GptModel::refresh_working_weights() {
  if (params16_.data() != nullptr) be_.to_bf16(params16_.data(), params_.data(), params_.size());
}

std::vector<float> GptModel::get_parameters() const {
  std::vector<float> host(layout_.total());
  if (!has_param_source()) {
    be_.copy_to_host(host.data(), params_.data(), params_.bytes());
    return host;
  }
  for (int i = 0; i < layout_.num_ranges(); ++i) {
    const ParamLayout::Range r = layout_.range(i);
    if (r.count == 0) continue;
    const float* src = source_.acquire(i, -1);
    be_.copy_to_host(host.data() + r.offset, src, r.count * sizeof(float));
    source_.release(i);
  }
  return host;
}

std::vector<float> GptModel::get_logits() const {
  std::vector<float> host(logits_.size());
  be_.copy_to_host(host.data(), logits_.data(), logits_.bytes());
  return host;
}

void GptModel::set_param_source(ParamSource source) {
  STRATA_CHECK(source.acquire && source.release, internal, "set_param_source: acquire and release are both needed");
  source_ = std::move(source);
  params_ = DeviceBuffer<float>();
  params16_ = DeviceBuffer<bf16>();
  std::fill(range_params_.begin(), range_params_.end(), nullptr);
  std::fill(range_params16_.begin(), range_params16_.end(), nullptr);
}

void GptModel::set_grad_sink(GradSink sink) {
  STRATA_CHECK(sink.acquire && sink.release, internal, "set_grad_sink: acquire and release are both needed");
  sink_ = std::move(sink);
  grads_ = DeviceBuffer<float>();
  std::fill(range_grads_.begin(), range_grads_.end(), nullptr);
}

void GptModel::use_grads(int range) {
  if (!sink_.acquire || layout_.range(range).count == 0) return;
  range_grads_[range] = sink_.acquire(range);
}

void GptModel::done_grads(int range) {
  if (!sink_.acquire || layout_.range(range).count == 0) return;
  range_grads_[range] = nullptr;
  sink_.release(range);
}

void GptModel::use_params(int range, int next) {
  if (!has_param_source() || layout_.range(range).count == 0) return;
  range_params_[range] = source_.acquire(range, next >= 0 && layout_.range(next).count > 0 ? next : -1);
  if (precision_ == Precision::bf16) {
    const std::size_t n = layout_.range(range).count;
    range_gathered16_[range] = DeviceBuffer<bf16>(be_, n);
    be_.to_bf16(range_gathered16_[range].data(), range_params_[range], n);
    range_params16_[range] = range_gathered16_[range].data();
  }
}

void GptModel::done_params(int range) {
  if (!has_param_source() || layout_.range(range).count == 0) return;
  range_params_[range] = nullptr;
  range_params16_[range] = nullptr;
  range_gathered16_[range].reset();  // the caching allocator keeps the block for the next range
  source_.release(range);
}

std::vector<float> GptModel::get_gradients() const {
  STRATA_CHECK(!sink_.acquire, internal, "get_gradients: the gradients went to a sink (ZeRO-3 shards)");
  std::vector<float> host(layout_.total());
  be_.copy_to_host(host.data(), grads_.data(), grads_.bytes());
  return host;
}

double GptModel::forward_backward(const int32_t* tokens, const int32_t* targets, bool backward, float dloss) {
  const double loss = forward_stage(0, 0, tokens, targets, backward, dloss);
  if (backward) backward_stage(0, 0);
  return loss;
}

void GptModel::check_slot(int chunk, int slot) const {
  STRATA_CHECK(chunk >= 0 && chunk < chunks() && slot >= 0 && slot < slots(), internal, "model chunk ", chunk,
               " slot ", slot, " outside ", chunks(), " chunks and ", slots(), " activation slots");
}

double GptModel::forward_stage(int chunk, int slot, const int32_t* tokens, const int32_t* targets, bool backward,
                               float dloss) {
  check_slot(chunk, slot);
  const ModelPartition& part = layout_.partition();
  const std::size_t bt = static_cast<std::size_t>(b_) * shape_.seq_len;
  // Parameter ranges: 0 the embedding, 1 + local block (chunk by chunk), head = local_layers() + 1
  // (use_params: ZeRO-3 gathers; the second argument names the range used next in this pass).
  const int nl = part.num_layers, first = part.chunk_first_layer(chunk), range0 = 1 + chunk * nl;
  const int head = part.local_layers() + 1;
  if (embeds(chunk)) {
    be_.copy_to_device(tokens_[slot].data(), tokens, bt * sizeof(int32_t));
    use_params(0, nl > 0 ? range0 : -1);
    embed_forward(slot);
    done_params(0);
  }
  for (int l = 0; l < nl; ++l) {
    use_params(range0 + l, l + 1 < nl ? range0 + l + 1 : has_loss(chunk) ? head : -1);
    block_forward(slot, first + l, l, x_[slot][l].data(), x_[slot][l + 1].data());
    done_params(range0 + l);
  }
  if (!has_loss(chunk)) return 0.0;
  STRATA_CHECK(head_slot_ < 0, internal, "forward_stage: the last stage's slot ", head_slot_,
               " still waits for its backward (run a slot's backward before the next forward)");
  be_.copy_to_device(targets_.data(), targets, bt * sizeof(int32_t));
  if (backward) head_slot_ = slot;
  use_params(head, -1);
  use_params(0, -1);  // the tied wte, when this stage holds the embedding
  const double loss = head_forward(slot, backward, dloss);
  done_params(0);
  done_params(head);
  return loss;
}

void GptModel::backward_stage(int chunk, int slot) {
  check_slot(chunk, slot);
  const ModelPartition& part = layout_.partition();
  const int nl = part.num_layers, first = part.chunk_first_layer(chunk), range0 = 1 + chunk * nl;
  const int head = part.local_layers() + 1;
  if (has_loss(chunk)) {
    STRATA_CHECK(head_slot_ == slot, internal, "backward_stage: slot ", slot,
                 " has no logits' gradient (its forward_stage ran without backward, or another slot's ran since)");
    head_slot_ = -1;
    use_params(head, nl > 0 ? range0 + nl - 1 : -1);
    use_params(0, -1);
    use_grads(head);
    use_grads(0);  // the tied wte: held until the embedding's backward below
    head_backward(slot);
    done_params(0);
    done_params(head);
    done_grads(head);
    notify(layout_.head_range());
  }
  // Otherwise dres_ holds the gradient of the chunk's output, received from the next virtual stage.
  for (int l = nl - 1; l >= 0; --l) {
    use_params(range0 + l, l > 0 ? range0 + l - 1 : embeds(chunk) ? 0 : -1);
    use_grads(range0 + l);
    block_backward(slot, first + l, l, x_[slot][l].data());
    done_params(range0 + l);
    done_grads(range0 + l);
    notify(layout_.block_range(first + l));
  }
  if (embeds(chunk)) {
    use_params(0, -1);
    if (!part.has_head) use_grads(0);
    embed_backward(slot);  // wte also collected the output projection's gradient in head_backward
    done_params(0);
    done_grads(0);
    notify(layout_.embedding_range());
  }
}

void GptModel::linear_forward(float* out, ActRef inp, ParamKind w, int layer, const float* bias, int n, int c, int oc) {
  if (inp.h != nullptr)
    be_.matmul_forward_bf16(out, inp.h, w16(w, layer), bias, n, c, oc);
  else
    be_.matmul_forward(out, inp.f, p(w, layer), bias, n, c, oc);
}

void GptModel::linear_forward(ActRef out, ActRef inp, ParamKind w, int layer, const float* bias, int n, int c,
                              int oc) {
  if (out.h != nullptr)
    be_.matmul_forward_bf16(out.h, inp.h, w16(w, layer), bias, n, c, oc);
  else
    linear_forward(out.f, inp, w, layer, bias, n, c, oc);
}

void GptModel::linear_backward(float* dinp, float* dbias, const float* dout, ActRef inp, ParamKind w, int layer, int n,
                               int c, int oc) {
  if (inp.h != nullptr)
    be_.matmul_backward_bf16(dinp, g(w, layer), dbias, dout, inp.h, w16(w, layer), n, c, oc);
  else
    be_.matmul_backward(dinp, g(w, layer), dbias, dout, inp.f, p(w, layer), n, c, oc);
}

void GptModel::attention_forward(ActRef out, float* lse, ActRef qkv) {
  if (out.h != nullptr)
    be_.attention_forward_bf16(out.h, lse, qkv.h, b_, shape_.seq_len, heads_local_, shape_.head_size());
  else
    be_.attention_forward(out.f, lse, qkv.f, b_, shape_.seq_len, heads_local_, shape_.head_size());
}

void GptModel::attention_backward(float* dqkv, const float* dout, ActRef out, const float* lse, ActRef qkv) {
  if (out.h != nullptr)
    be_.attention_backward_bf16(dqkv, dout, out.h, lse, qkv.h, b_, shape_.seq_len, heads_local_, shape_.head_size());
  else
    be_.attention_backward(dqkv, dout, out.f, lse, qkv.f, b_, shape_.seq_len, heads_local_, shape_.head_size());
}

void GptModel::layernorm_forward(ActRef out, float* mean, float* rstd, const float* inp, ParamKind w, int layer,
                                 int rows) {
  const ParamKind b = layernorm_bias(w);
  if (out.h != nullptr)
    be_.layernorm_forward_bf16(out.h, mean, rstd, inp, p(w, layer), p(b, layer), rows, shape_.hidden, kLayerNormEps);
  else
    be_.layernorm_forward(out.f, mean, rstd, inp, p(w, layer), p(b, layer), rows, shape_.hidden, kLayerNormEps);
}

void GptModel::mlp_fc_gelu_forward(ActRef out, ActRef pre, ActRef inp, int layer, int n, int c, int oc) {
  if (out.h != nullptr) {
    be_.matmul_gelu_forward_bf16(out.h, pre.h, inp.h, w16(ParamKind::fc_w, layer), p(ParamKind::fc_b, layer), n, c,
                                 oc);
    return;
  }
  linear_forward(pre.f, inp, ParamKind::fc_w, layer, p(ParamKind::fc_b, layer), n, c, oc);
  be_.gelu_forward(out.f, pre.f, static_cast<std::size_t>(n) * oc);
}

void GptModel::mlp_proj_gelu_backward(float* dpre, const float* dout, ActRef out, ActRef pre, int layer, int n, int oc,
                                      int c) {
  if (out.h != nullptr) {
    be_.matmul_dgelu_backward_bf16(dpre, g(ParamKind::fc_proj_w, layer), g(ParamKind::fc_proj_b, layer), dout, out.h,
                                   pre.h, w16(ParamKind::fc_proj_w, layer), n, oc, c);
    return;
  }
  linear_backward(dpre, g(ParamKind::fc_proj_b, layer), dout, out, ParamKind::fc_proj_w, layer, n, oc, c);
  be_.gelu_backward(dpre, pre.f, dpre, static_cast<std::size_t>(n) * oc);
}

void GptModel::embed_forward(int slot) {
  const int bt = b_ * shape_.seq_len;
  // Vocab-parallel: rows of tokens outside this rank's slice are zero; wpe is added on rank 0 only, so the
  // sum over the tensor group is exactly wte[token] + wpe[position] (the other terms are exact zeros).
  float* x0 = x_[slot][0].data();
  be_.embedding_forward(row_parallel_out(x0), tokens_[slot].data(), p(ParamKind::wte),
                        tp_rank_ == 0 ? p(ParamKind::wpe) : nullptr, bt, shape_.seq_len, shape_.hidden,
                        layout_.vocab_start(), layout_.vocab_slice());
  finish_row_parallel(x0);
}

void GptModel::block_forward(int slot, int l, int local, const float* x_in, float* x_out) {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, cl = c_local_;
  const int r = static_cast<int>(rows_.local_rows());  // rows of the residual stream held here
  const std::size_t rc = rows_.local_floats();
  BlockActs& a = acts(slot, local);
  // Row-parallel biases are added once: on tensor rank 0, before the sum of the partial sums.
  const bool add_bias = tp_rank_ == 0;
  layernorm_forward(a.ln1.ref(), a.ln1_mean.data(), a.ln1_rstd.data(), x_in, ParamKind::ln1_w, l, r);
  linear_forward(a.qkv.ref(), gather(a.ln1.ref()), ParamKind::qkv_w, l, p(ParamKind::qkv_b, l), bt, c, 3 * cl);
  attention_forward(atty(slot, local), a.lse.data(), a.qkv.ref());
  // x_mid = x_in + attn_proj(atty): the projection's summed output lands in x_mid, then the residual is
  // added in place.
  linear_forward(row_parallel_out(a.x_mid.data()), atty(slot, local), ParamKind::attn_proj_w, l,
                 add_bias ? p(ParamKind::attn_proj_b, l) : nullptr, bt, cl, c);
  finish_row_parallel(a.x_mid.data());
  be_.add(a.x_mid.data(), a.x_mid.data(), x_in, rc);
  layernorm_forward(a.ln2.ref(), a.ln2_mean.data(), a.ln2_rstd.data(), a.x_mid.data(), ParamKind::ln2_w, l, r);
  // fch = fc(ln2) kept for the GELU's backward, fch_gelu = gelu(fch).
  mlp_fc_gelu_forward(a.fch_gelu.ref(), a.fch.ref(), gather(a.ln2.ref()), l, bt, c, 4 * cl);
  linear_forward(row_parallel_out(x_out), a.fch_gelu.ref(), ParamKind::fc_proj_w, l,
                 add_bias ? p(ParamKind::fc_proj_b, l) : nullptr, bt, 4 * cl, c);
  finish_row_parallel(x_out);
  be_.add(x_out, x_out, a.x_mid.data(), rc);
}

double GptModel::head_forward(int slot, bool backward, float dloss) {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, vs = layout_.vocab_slice();
  const float* x_last = x_[slot].back().data();
  // The final LayerNorm writes this rank's rows of lnf_; with sequence parallelism the others are
  // gathered in place (lnf_ is kept whole for the output projection's weight gradient).
  const ActRef lnf = lnf_.ref(), lnf_mine = lnf.at(sp_ ? rows_.local_offset() : 0);
  layernorm_forward(lnf_mine, lnf_mean_.data(), lnf_rstd_.data(), x_last, ParamKind::lnf_w, -1,
                    static_cast<int>(rows_.local_rows()));
  if (sp_) {
    sync_for(*tensor_, be_);
    if (lnf.h != nullptr)
      gather_rows(*tensor_, rows_, lnf_mine.h, lnf.h);
    else
      gather_rows(*tensor_, rows_, lnf_mine.f, lnf.f);
  }
  linear_forward(logits_.data(), lnf, ParamKind::wte, -1, nullptr, bt, c, vs);
  float* dlogits = backward ? logits_.data() : nullptr;
  if (!tensor_parallel()) {
    be_.crossentropy_forward_backward(losses_.data(), dlogits, logits_.data(), targets_.data(), bt, shape_.vocab_size,
                                      vs, dloss);
  } else {
    // Vocab-parallel cross-entropy: row max, then sum of exponentials and target logit, over the group.
    const int v = shape_.vocab_size, v0 = layout_.vocab_start();
    float* sumexp = ce_stats_.data();
    float* target_logits = ce_stats_.data() + bt;
    be_.crossentropy_vp_max(ce_max_.data(), logits_.data(), bt, vs, v, v0);
    tensor_all_reduce(ce_max_.data(), bt, ReduceOp::max);
    be_.crossentropy_vp_sumexp(sumexp, target_logits, logits_.data(), ce_max_.data(), targets_.data(), bt, vs, v, v0);
    tensor_all_reduce(ce_stats_.data(), 2 * static_cast<std::size_t>(bt));
    // The losses are now identical on every tensor rank (computed from the same reduced statistics).
    be_.crossentropy_vp_forward_backward(losses_.data(), dlogits, logits_.data(), ce_max_.data(), sumexp,
                                         target_logits, targets_.data(), bt, vs, v, v0, dloss);
  }
  be_.sum(loss_sum_.data(), losses_.data(), bt);
  float loss = 0.0f;
  be_.copy_to_host(&loss, loss_sum_.data(), sizeof(float));
  return loss;
}

void GptModel::head_backward(int slot) {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, vs = layout_.vocab_slice();
  // logits_ now holds dlogits (the cross-entropy wrote them in place).
  linear_backward(dln_.data(), nullptr, logits_.data(), lnf_.ref(), ParamKind::wte, -1, bt, c, vs);
  const float* dln = finish_column_grad();  // partial over the vocabulary slices
  dres_.zero();
  if (sp_) ln_grads_.zero();
  be_.layernorm_backward(dres_.data(), ln_dw(0, ParamKind::lnf_w, -1), ln_db(0, ParamKind::lnf_w, -1), dln,
                         x_[slot].back().data(), p(ParamKind::lnf_w), lnf_mean_.data(), lnf_rstd_.data(),
                         static_cast<int>(rows_.local_rows()), c);
  add_layernorm_grads({ParamKind::lnf_w}, -1);
}

void GptModel::block_backward(int slot, int l, int local, const float* x_in) {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, cl = c_local_;
  const int r = static_cast<int>(rows_.local_rows());
  if (recompute_ == Recompute::full) {
    // Rebuild this block's activations from its kept input; x_[local + 1] is rewritten with the same
    // values (deterministic kernels) and is no longer needed by the backward of the blocks above.
    block_forward(slot, l, local, x_in, x_[slot][local + 1].data());
  } else if (recompute_ == Recompute::selective) {
    BlockActs& k = acts(slot, local);
    attention_forward(atty(slot, local), k.lse.data(), k.qkv.ref());
  }
  BlockActs& a = acts(slot, local);
  if (sp_) ln_grads_.zero();
  // MLP branch: x_out = x_mid + fc_proj(gelu(fc(ln2(x_mid)))); dres holds dL/dx_out, whole (gathered with
  // sequence parallelism) and replicated, so the row-parallel fc_proj needs no other communication and
  // its replicated bias gets the full column sums of dres.
  mlp_proj_gelu_backward(dfch_.data(), gather(dres_.data()), a.fch_gelu.ref(), a.fch.ref(), l, bt, 4 * cl, c);
  linear_backward(dln_.data(), g(ParamKind::fc_b, l), dfch_.data(), gather(a.ln2.ref()), ParamKind::fc_w, l, bt, c,
                  4 * cl);
  const float* dln2 = finish_column_grad();  // column-parallel fc: each rank's dln covers its 4C/T outputs
  be_.layernorm_backward(dres_.data(), ln_dw(0, ParamKind::ln2_w, l), ln_db(0, ParamKind::ln2_w, l), dln2,
                         a.x_mid.data(), p(ParamKind::ln2_w, l), a.ln2_mean.data(), a.ln2_rstd.data(), r, c);
  // Attention branch: x_mid = x_in + attn_proj(attention(qkv(ln1(x_in)))); dres now holds dL/dx_mid.
  linear_backward(datty_.data(), g(ParamKind::attn_proj_b, l), gather(dres_.data()), atty(slot, local),
                  ParamKind::attn_proj_w, l, bt, cl, c);
  attention_backward(dqkv_.data(), datty_.data(), atty(slot, local), a.lse.data(), a.qkv.ref());
  linear_backward(dln_.data(), g(ParamKind::qkv_b, l), dqkv_.data(), gather(a.ln1.ref()), ParamKind::qkv_w, l, bt, c,
                  3 * cl);
  const float* dln1 = finish_column_grad();  // column-parallel qkv: partial over the local heads
  be_.layernorm_backward(dres_.data(), ln_dw(1, ParamKind::ln1_w, l), ln_db(1, ParamKind::ln1_w, l), dln1, x_in,
                         p(ParamKind::ln1_w, l), a.ln1_mean.data(), a.ln1_rstd.data(), r, c);
  add_layernorm_grads({ParamKind::ln2_w, ParamKind::ln1_w}, l);
}

void GptModel::embed_backward(int slot) {
  const int bt = b_ * shape_.seq_len;
  // dres (gathered with sequence parallelism) is whole and replicated: every tensor rank computes the same
  // (full) wpe gradient, and scatters into its own vocabulary rows of wte only.
  be_.embedding_backward(g(ParamKind::wte), g(ParamKind::wpe), gather(dres_.data()), tokens_[slot].data(), bt,
                         shape_.seq_len, shape_.hidden, layout_.vocab_start(), layout_.vocab_slice());
}

}  // namespace strata
