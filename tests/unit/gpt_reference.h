// gpt_reference.h — an independent, naive double-precision GPT-2 forward (SPEC section 4) for tests:
// no kernels, no tiling, full (T,T) attention. Parameters are read through the same ParamLayout so
// the model under test and the reference agree on where each tensor lives.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "src/param_layout.h"

namespace strata::test {

// Mean next-token cross-entropy over B*T positions.
inline double reference_gpt_loss(const std::vector<double>& prm, const ParamLayout& lay, const GptShape& s, int b,
                                 const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets) {
  const int t_len = s.seq_len, c = s.hidden, nh = s.heads, hs = s.head_size(), v = s.vocab_size;
  auto P = [&](ParamKind k, int l = -1) { return prm.data() + lay.get(k, l).offset; };
  auto layernorm = [&](const std::vector<double>& x, const double* w, const double* bias) {
    std::vector<double> out(x.size());
    for (std::size_t r = 0; r < x.size() / c; ++r) {
      double m = 0, var = 0;
      for (int j = 0; j < c; ++j) m += x[r * c + j];
      m /= c;
      for (int j = 0; j < c; ++j) var += (x[r * c + j] - m) * (x[r * c + j] - m);
      var /= c;
      const double rs = 1.0 / std::sqrt(var + 1e-5);
      for (int j = 0; j < c; ++j) out[r * c + j] = (x[r * c + j] - m) * rs * w[j] + bias[j];
    }
    return out;
  };
  auto linear = [&](const std::vector<double>& x, int in, const double* w, const double* bias, int outc) {
    const std::size_t rows = x.size() / in;
    std::vector<double> out(rows * outc);
    for (std::size_t r = 0; r < rows; ++r)
      for (int o = 0; o < outc; ++o) {
        double acc = bias ? bias[o] : 0.0;
        for (int i = 0; i < in; ++i) acc += x[r * in + i] * w[static_cast<std::size_t>(o) * in + i];
        out[r * outc + o] = acc;
      }
    return out;
  };
  const std::size_t n = static_cast<std::size_t>(b) * t_len;
  std::vector<double> x(n * c);
  for (std::size_t i = 0; i < n; ++i)
    for (int j = 0; j < c; ++j)
      x[i * c + j] = P(ParamKind::wte)[static_cast<std::size_t>(tokens[i]) * c + j] +
                     P(ParamKind::wpe)[(i % t_len) * c + j];
  for (int l = 0; l < s.layers; ++l) {
    const auto ln1 = layernorm(x, P(ParamKind::ln1_w, l), P(ParamKind::ln1_b, l));
    const auto qkv = linear(ln1, c, P(ParamKind::qkv_w, l), P(ParamKind::qkv_b, l), 3 * c);
    std::vector<double> att(n * c, 0.0);
    for (int bb = 0; bb < b; ++bb)
      for (int h = 0; h < nh; ++h)
        for (int i = 0; i < t_len; ++i) {
          const double* q = &qkv[(static_cast<std::size_t>(bb) * t_len + i) * 3 * c + h * hs];
          std::vector<double> sc(i + 1);
          double mx = -1e300;
          for (int j = 0; j <= i; ++j) {
            const double* k = &qkv[(static_cast<std::size_t>(bb) * t_len + j) * 3 * c + c + h * hs];
            double d = 0;
            for (int e = 0; e < hs; ++e) d += q[e] * k[e];
            sc[j] = d / std::sqrt(static_cast<double>(hs));
            mx = std::max(mx, sc[j]);
          }
          double z = 0;
          for (int j = 0; j <= i; ++j) z += (sc[j] = std::exp(sc[j] - mx));
          for (int j = 0; j <= i; ++j) {
            const double* vv = &qkv[(static_cast<std::size_t>(bb) * t_len + j) * 3 * c + 2 * c + h * hs];
            for (int e = 0; e < hs; ++e) att[(static_cast<std::size_t>(bb) * t_len + i) * c + h * hs + e] += sc[j] / z * vv[e];
          }
        }
    const auto proj = linear(att, c, P(ParamKind::attn_proj_w, l), P(ParamKind::attn_proj_b, l), c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    const auto ln2 = layernorm(x, P(ParamKind::ln2_w, l), P(ParamKind::ln2_b, l));
    auto fc = linear(ln2, c, P(ParamKind::fc_w, l), P(ParamKind::fc_b, l), 4 * c);
    for (double& u : fc) u = 0.5 * u * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u * u * u)));
    const auto out = linear(fc, 4 * c, P(ParamKind::fc_proj_w, l), P(ParamKind::fc_proj_b, l), c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += out[i];
  }
  const auto lnf = layernorm(x, P(ParamKind::lnf_w), P(ParamKind::lnf_b));
  const auto logits = linear(lnf, c, P(ParamKind::wte), nullptr, v);  // real vocabulary only
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double mx = -1e300;
    for (int j = 0; j < v; ++j) mx = std::max(mx, logits[i * v + j]);
    double z = 0;
    for (int j = 0; j < v; ++j) z += std::exp(logits[i * v + j] - mx);
    loss += std::log(z) + mx - logits[i * v + targets[i]];
  }
  return loss / static_cast<double>(n);
}

}  // namespace strata::test
