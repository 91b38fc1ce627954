// gpt_model.cpp — see gpt_model.h.
#include "src/gpt_model.h"

#include <algorithm>

#include "kernels/error.h"

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

GptModel::GptModel(Backend& backend, const GptShape& shape, const ModelPartition& partition, int micro_batch,
                   Recompute recompute)
    : be_(backend), shape_(shape), layout_(shape, partition), b_(micro_batch), recompute_(recompute) {
  const std::size_t bt = static_cast<std::size_t>(b_) * shape_.seq_len;
  const std::size_t c = shape_.hidden;
  const std::size_t bnt = static_cast<std::size_t>(b_) * shape_.heads * shape_.seq_len;
  params_ = DeviceBuffer<float>(be_, layout_.total());
  grads_ = DeviceBuffer<float>(be_, layout_.total());
  grads_.zero();
  tokens_ = DeviceBuffer<int32_t>(be_, bt);
  targets_ = DeviceBuffer<int32_t>(be_, bt);
  const int nl = layout_.partition().num_layers;
  for (int l = 0; l <= nl; ++l) x_.emplace_back(be_, bt * c);
  acts_.resize(recompute_ == Recompute::full ? std::min(nl, 1) : nl);
  if (recompute_ != Recompute::none) atty_shared_ = DeviceBuffer<float>(be_, bt * c);
  for (BlockActs& a : acts_) {
    a.ln1 = DeviceBuffer<float>(be_, bt * c);
    a.ln1_mean = DeviceBuffer<float>(be_, bt);
    a.ln1_rstd = DeviceBuffer<float>(be_, bt);
    a.qkv = DeviceBuffer<float>(be_, bt * 3 * c);
    if (recompute_ == Recompute::none) a.atty = DeviceBuffer<float>(be_, bt * c);
    a.lse = DeviceBuffer<float>(be_, bnt);
    a.x_mid = DeviceBuffer<float>(be_, bt * c);
    a.ln2 = DeviceBuffer<float>(be_, bt * c);
    a.ln2_mean = DeviceBuffer<float>(be_, bt);
    a.ln2_rstd = DeviceBuffer<float>(be_, bt);
    a.fch = DeviceBuffer<float>(be_, bt * 4 * c);
    a.fch_gelu = DeviceBuffer<float>(be_, bt * 4 * c);
  }
  lnf_ = DeviceBuffer<float>(be_, bt * c);
  lnf_mean_ = DeviceBuffer<float>(be_, bt);
  lnf_rstd_ = DeviceBuffer<float>(be_, bt);
  logits_ = DeviceBuffer<float>(be_, bt * shape_.padded_vocab());
  losses_ = DeviceBuffer<float>(be_, bt);
  loss_sum_ = DeviceBuffer<float>(be_, 1);
  dres_ = DeviceBuffer<float>(be_, bt * c);
  dln_ = DeviceBuffer<float>(be_, bt * c);
  dqkv_ = DeviceBuffer<float>(be_, bt * 3 * c);
  datty_ = DeviceBuffer<float>(be_, bt * c);
  dfch_ = DeviceBuffer<float>(be_, bt * 4 * c);
}

std::size_t GptModel::activation_bytes() const {
  std::size_t bytes = 0;
  for (const auto& x : x_) bytes += x.bytes();
  for (const BlockActs& a : acts_) {
    for (const auto* buf : {&a.ln1, &a.ln1_mean, &a.ln1_rstd, &a.qkv, &a.atty, &a.lse, &a.x_mid, &a.ln2, &a.ln2_mean,
                            &a.ln2_rstd, &a.fch, &a.fch_gelu})
      bytes += buf->bytes();
  }
  for (const auto* buf : {&atty_shared_, &lnf_, &lnf_mean_, &lnf_rstd_, &logits_, &losses_, &dres_, &dln_, &dqkv_, &datty_, &dfch_})
    bytes += buf->bytes();
  return bytes;
}

void GptModel::set_parameters(const std::vector<float>& host) {
  STRATA_CHECK(host.size() == layout_.total(), internal, "set_parameters: expected ", layout_.total(),
               " floats, got ", host.size());
  be_.copy_to_device(params_.data(), host.data(), params_.bytes());
}

std::vector<float> GptModel::get_parameters() const {
  std::vector<float> host(layout_.total());
  be_.copy_to_host(host.data(), params_.data(), params_.bytes());
  return host;
}

std::vector<float> GptModel::get_gradients() const {
  std::vector<float> host(layout_.total());
  be_.copy_to_host(host.data(), grads_.data(), grads_.bytes());
  return host;
}

double GptModel::forward_backward(const int32_t* tokens, const int32_t* targets, bool backward, float dloss) {
  const std::size_t bt = static_cast<std::size_t>(b_) * shape_.seq_len;
  be_.copy_to_device(tokens_.data(), tokens, bt * sizeof(int32_t));
  be_.copy_to_device(targets_.data(), targets, bt * sizeof(int32_t));
  embed_forward();
  const int nl = layout_.partition().num_layers;
  for (int l = 0; l < nl; ++l) block_forward(l, x_[l].data(), x_[l + 1].data());
  const double loss = head_forward(backward, dloss);
  if (backward) {
    const int first = layout_.partition().first_layer;
    head_backward();
    notify(layout_.head_range());
    for (int l = nl - 1; l >= 0; --l) {
      block_backward(l, x_[l].data());
      notify(layout_.block_range(first + l));
    }
    embed_backward();  // wte also collected the output projection's gradient in head_backward
    notify(layout_.embedding_range());
  }
  return loss;
}

void GptModel::embed_forward() {
  const int bt = b_ * shape_.seq_len;
  be_.embedding_forward(x_[0].data(), tokens_.data(), p(ParamKind::wte), p(ParamKind::wpe), bt, shape_.seq_len,
                        shape_.hidden, 0, shape_.padded_vocab());
}

void GptModel::block_forward(int local, const float* x_in, float* x_out) {
  const int l = layout_.partition().first_layer + local;
  const int bt = b_ * shape_.seq_len, c = shape_.hidden;
  BlockActs& a = acts(local);
  be_.layernorm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), x_in, p(ParamKind::ln1_w, l),
                        p(ParamKind::ln1_b, l), bt, c, kLayerNormEps);
  be_.matmul_forward(a.qkv.data(), a.ln1.data(), p(ParamKind::qkv_w, l), p(ParamKind::qkv_b, l), bt, c, 3 * c);
  be_.attention_forward(atty(local), a.lse.data(), a.qkv.data(), b_, shape_.seq_len, shape_.heads,
                        shape_.head_size());
  // x_mid = x_in + attn_proj(atty): the projection writes x_mid, then the residual is added in place.
  be_.matmul_forward(a.x_mid.data(), atty(local), p(ParamKind::attn_proj_w, l), p(ParamKind::attn_proj_b, l), bt,
                     c, c);
  be_.add(a.x_mid.data(), a.x_mid.data(), x_in, static_cast<std::size_t>(bt) * c);
  be_.layernorm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), a.x_mid.data(), p(ParamKind::ln2_w, l),
                        p(ParamKind::ln2_b, l), bt, c, kLayerNormEps);
  be_.matmul_forward(a.fch.data(), a.ln2.data(), p(ParamKind::fc_w, l), p(ParamKind::fc_b, l), bt, c, 4 * c);
  be_.gelu_forward(a.fch_gelu.data(), a.fch.data(), static_cast<std::size_t>(bt) * 4 * c);
  be_.matmul_forward(x_out, a.fch_gelu.data(), p(ParamKind::fc_proj_w, l), p(ParamKind::fc_proj_b, l), bt, 4 * c, c);
  be_.add(x_out, x_out, a.x_mid.data(), static_cast<std::size_t>(bt) * c);
}

double GptModel::head_forward(bool backward, float dloss) {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, vp = shape_.padded_vocab();
  const float* x_last = x_.back().data();
  be_.layernorm_forward(lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), x_last, p(ParamKind::lnf_w),
                        p(ParamKind::lnf_b), bt, c, kLayerNormEps);
  be_.matmul_forward(logits_.data(), lnf_.data(), p(ParamKind::wte), nullptr, bt, c, vp);
  be_.crossentropy_forward_backward(losses_.data(), backward ? logits_.data() : nullptr, logits_.data(),
                                    targets_.data(), bt, shape_.vocab_size, vp, dloss);
  be_.sum(loss_sum_.data(), losses_.data(), bt);
  float loss = 0.0f;
  be_.copy_to_host(&loss, loss_sum_.data(), sizeof(float));
  return loss;
}

void GptModel::head_backward() {
  const int bt = b_ * shape_.seq_len, c = shape_.hidden, vp = shape_.padded_vocab();
  // logits_ now holds dlogits (fused cross-entropy wrote them in place).
  be_.matmul_backward(dln_.data(), g(ParamKind::wte), nullptr, logits_.data(), lnf_.data(), p(ParamKind::wte), bt, c,
                      vp);
  dres_.zero();
  be_.layernorm_backward(dres_.data(), g(ParamKind::lnf_w), g(ParamKind::lnf_b), dln_.data(), x_.back().data(),
                         p(ParamKind::lnf_w), lnf_mean_.data(), lnf_rstd_.data(), bt, c);
}

void GptModel::block_backward(int local, const float* x_in) {
  const int l = layout_.partition().first_layer + local;
  const int bt = b_ * shape_.seq_len, c = shape_.hidden;
  if (recompute_ == Recompute::full) {
    // Rebuild this block's activations from its kept input; x_[local + 1] is rewritten with the same
    // values (deterministic kernels) and is no longer needed by the backward of the blocks above.
    block_forward(local, x_in, x_[local + 1].data());
  } else if (recompute_ == Recompute::selective) {
    BlockActs& k = acts(local);
    be_.attention_forward(atty(local), k.lse.data(), k.qkv.data(), b_, shape_.seq_len, shape_.heads,
                          shape_.head_size());
  }
  BlockActs& a = acts(local);
  // MLP branch: x_out = x_mid + fc_proj(gelu(fc(ln2(x_mid)))); dres holds dL/dx_out.
  be_.matmul_backward(dfch_.data(), g(ParamKind::fc_proj_w, l), g(ParamKind::fc_proj_b, l), dres_.data(),
                      a.fch_gelu.data(), p(ParamKind::fc_proj_w, l), bt, 4 * c, c);
  be_.gelu_backward(dfch_.data(), a.fch.data(), dfch_.data(), static_cast<std::size_t>(bt) * 4 * c);
  be_.matmul_backward(dln_.data(), g(ParamKind::fc_w, l), g(ParamKind::fc_b, l), dfch_.data(), a.ln2.data(),
                      p(ParamKind::fc_w, l), bt, c, 4 * c);
  be_.layernorm_backward(dres_.data(), g(ParamKind::ln2_w, l), g(ParamKind::ln2_b, l), dln_.data(), a.x_mid.data(),
                         p(ParamKind::ln2_w, l), a.ln2_mean.data(), a.ln2_rstd.data(), bt, c);
  // Attention branch: x_mid = x_in + attn_proj(attention(qkv(ln1(x_in)))); dres now holds dL/dx_mid.
  be_.matmul_backward(datty_.data(), g(ParamKind::attn_proj_w, l), g(ParamKind::attn_proj_b, l), dres_.data(),
                      atty(local), p(ParamKind::attn_proj_w, l), bt, c, c);
  be_.attention_backward(dqkv_.data(), datty_.data(), atty(local), a.lse.data(), a.qkv.data(), b_, shape_.seq_len,
                         shape_.heads, shape_.head_size());
  be_.matmul_backward(dln_.data(), g(ParamKind::qkv_w, l), g(ParamKind::qkv_b, l), dqkv_.data(), a.ln1.data(),
                      p(ParamKind::qkv_w, l), bt, c, 3 * c);
  be_.layernorm_backward(dres_.data(), g(ParamKind::ln1_w, l), g(ParamKind::ln1_b, l), dln_.data(), x_in,
                         p(ParamKind::ln1_w, l), a.ln1_mean.data(), a.ln1_rstd.data(), bt, c);
}

void GptModel::embed_backward() {
  const int bt = b_ * shape_.seq_len;
  be_.embedding_backward(g(ParamKind::wte), g(ParamKind::wpe), dres_.data(), tokens_.data(), bt, shape_.seq_len,
                         shape_.hidden, 0, shape_.padded_vocab());
}

}  // namespace strata
