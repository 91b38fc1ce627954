// profiling_backend.cpp — see profiling_backend.h.
#include "kernels/profiling_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include "kernels/error.h"

namespace strata {
namespace {

// out(N,OC) = inp(N,C) @ w^T: 2*N*C*OC; a backward computes dw and, when dinp is not null, dinp as well.
double gemm_flops(int n, int c, int oc, bool backward_with_dinp = false) {
  const double one = 2.0 * n * c * oc;
  return backward_with_dinp ? 2.0 * one : one;
}

// Causal attention forward: scores Q K^T and values P V over the T*(T+1)/2 unmasked (query, key) pairs of
// each of the B*NH heads, 2 FLOPs per multiply-add of HS; the backward does 2.5x the forward's work.
double attention_flops(int b, int t, int nh, int hs, bool backward = false) {
  const double forward = 2.0 * 2.0 * b * nh * hs * (static_cast<double>(t) * (t + 1) / 2.0);
  return backward ? 2.5 * forward : forward;
}

}  // namespace

ProfilingBackend::ProfilingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {
  STRATA_CHECK(inner_ != nullptr, internal, "ProfilingBackend: no inner backend given");
}

template <typename F>
void ProfilingBackend::timed(const char* op, double flops, F&& f) {
  using clock = std::chrono::steady_clock;
  inner_->synchronize();  // the op's time starts with an idle stream
  const auto start = clock::now();
  f();
  inner_->synchronize();
  const std::chrono::duration<double> took = clock::now() - start;
  OpStats& s = stats_[op];
  ++s.calls;
  s.seconds += took.count();
  s.flops += flops;
}

ProfilingBackend::OpStats ProfilingBackend::stats(const std::string& op) const {
  const auto it = stats_.find(op);
  return it == stats_.end() ? OpStats{} : it->second;
}

std::string ProfilingBackend::report(int64_t steps) const {
  std::vector<std::pair<std::string, OpStats>> rows(stats_.begin(), stats_.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total_s = 0.0;
  int64_t total_calls = 0;
  for (const auto& [op, s] : rows) {
    total_s += s.seconds;
    total_calls += s.calls;
  }
  const double per_step = steps > 0 ? 1.0 / static_cast<double>(steps) : 0.0;
  std::string out = "op profile (" + inner_->name() + "): times include one device synchronize before and after "
                    "each op (ops serialized, no overlap)";
  out += steps > 0 ? "; ms/step over " + std::to_string(steps) + " steps\n" : "\n";
  char line[256];
  std::snprintf(line, sizeof(line), "  %-34s %9s %11s %10s%s %7s %9s\n", "op", "calls", "total ms", "ms/call",
                steps > 0 ? "    ms/step" : "", "share", "TFLOP/s");
  out += line;
  auto add_row = [&](const std::string& op, int64_t calls, double seconds, double flops) {
    char step_ms[24] = "", tflops[24] = "-";
    if (steps > 0) std::snprintf(step_ms, sizeof(step_ms), " %10.3f", seconds * 1e3 * per_step);
    if (flops > 0 && seconds > 0) std::snprintf(tflops, sizeof(tflops), "%.3f", flops / seconds / 1e12);
    std::snprintf(line, sizeof(line), "  %-34s %9lld %11.3f %10.4f%s %6.1f%% %9s\n", op.c_str(),
                  static_cast<long long>(calls), seconds * 1e3, calls > 0 ? seconds * 1e3 / calls : 0.0, step_ms,
                  total_s > 0 ? 100.0 * seconds / total_s : 0.0, tflops);
    out += line;
  };
  for (const auto& [op, s] : rows) add_row(op, s.calls, s.seconds, s.flops);
  add_row("total (profiled ops)", total_calls, total_s, 0.0);
  return out;
}

void ProfilingBackend::copy_to_device(void* dst, const void* host_src, std::size_t bytes) {
  timed("copy_to_device", 0, [&] { inner_->copy_to_device(dst, host_src, bytes); });
}
void ProfilingBackend::copy_to_host(void* host_dst, const void* src, std::size_t bytes) {
  timed("copy_to_host", 0, [&] { inner_->copy_to_host(host_dst, src, bytes); });
}
void ProfilingBackend::copy(void* dst, const void* src, std::size_t bytes) {
  timed("copy", 0, [&] { inner_->copy(dst, src, bytes); });
}
void ProfilingBackend::fill_zero(void* ptr, std::size_t bytes) {
  timed("fill_zero", 0, [&] { inner_->fill_zero(ptr, bytes); });
}

void ProfilingBackend::matmul_forward(float* out, const float* inp, const float* w, const float* bias, int n, int c,
                                      int oc) {
  timed("matmul_forward", gemm_flops(n, c, oc), [&] { inner_->matmul_forward(out, inp, w, bias, n, c, oc); });
}
void ProfilingBackend::matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                                       const float* w, int n, int c, int oc) {
  timed("matmul_backward", gemm_flops(n, c, oc, dinp != nullptr),
        [&] { inner_->matmul_backward(dinp, dw, dbias, dout, inp, w, n, c, oc); });
}
void ProfilingBackend::to_bf16(bf16* dst, const float* src, std::size_t n) {
  timed("to_bf16", 0, [&] { inner_->to_bf16(dst, src, n); });
}
void ProfilingBackend::layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w,
                                              const float* b, int n, int c, float eps) {
  timed("layernorm_forward_bf16", 0, [&] { inner_->layernorm_forward_bf16(out, mean, rstd, inp, w, b, n, c, eps); });
}
void ProfilingBackend::matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                           int oc) {
  timed("matmul_forward_bf16", gemm_flops(n, c, oc),
        [&] { inner_->matmul_forward_bf16(out, inp, w, bias, n, c, oc); });
}
void ProfilingBackend::matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                           int oc) {
  timed("matmul_forward_bf16", gemm_flops(n, c, oc),
        [&] { inner_->matmul_forward_bf16(out, inp, w, bias, n, c, oc); });
}
void ProfilingBackend::matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp,
                                            const bf16* w, int n, int c, int oc) {
  timed("matmul_backward_bf16", gemm_flops(n, c, oc, dinp != nullptr),
        [&] { inner_->matmul_backward_bf16(dinp, dw, dbias, dout, inp, w, n, c, oc); });
}
void ProfilingBackend::matmul_gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w,
                                                const float* bias, int n, int c, int oc) {
  timed("matmul_gelu_forward_bf16", gemm_flops(n, c, oc),
        [&] { inner_->matmul_gelu_forward_bf16(out, pre, inp, w, bias, n, c, oc); });
}
void ProfilingBackend::matmul_dgelu_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout,
                                                  const bf16* inp, const bf16* pre, const bf16* w, int n, int c,
                                                  int oc) {
  timed("matmul_dgelu_backward_bf16", gemm_flops(n, c, oc, true),
        [&] { inner_->matmul_dgelu_backward_bf16(dinp, dw, dbias, dout, inp, pre, w, n, c, oc); });
}

void ProfilingBackend::embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n,
                                         int t, int c, int vocab_start, int vocab_count) {
  timed("embedding_forward", 0,
        [&] { inner_->embedding_forward(out, tokens, wte, wpe, n, t, c, vocab_start, vocab_count); });
}
void ProfilingBackend::embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n,
                                          int t, int c, int vocab_start, int vocab_count) {
  timed("embedding_backward", 0,
        [&] { inner_->embedding_backward(dwte, dwpe, dout, tokens, n, t, c, vocab_start, vocab_count); });
}
void ProfilingBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                         const float* b, int n, int c, float eps) {
  timed("layernorm_forward", 0, [&] { inner_->layernorm_forward(out, mean, rstd, inp, w, b, n, c, eps); });
}
void ProfilingBackend::layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                                          const float* w, const float* mean, const float* rstd, int n, int c) {
  timed("layernorm_backward", 0, [&] { inner_->layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, n, c); });
}
void ProfilingBackend::gelu_forward(float* out, const float* inp, std::size_t n) {
  timed("gelu_forward", 0, [&] { inner_->gelu_forward(out, inp, n); });
}
void ProfilingBackend::gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) {
  timed("gelu_backward", 0, [&] { inner_->gelu_backward(dinp, inp, dout, n); });
}
void ProfilingBackend::add(float* out, const float* a, const float* b, std::size_t n) {
  timed("add", 0, [&] { inner_->add(out, a, b, n); });
}

void ProfilingBackend::attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) {
  timed("attention_forward", attention_flops(b, t, nh, hs),
        [&] { inner_->attention_forward(out, lse, qkv, b, t, nh, hs); });
}
void ProfilingBackend::attention_backward(float* dqkv, const float* dout, const float* out, const float* lse,
                                          const float* qkv, int b, int t, int nh, int hs) {
  timed("attention_backward", attention_flops(b, t, nh, hs, true),
        [&] { inner_->attention_backward(dqkv, dout, out, lse, qkv, b, t, nh, hs); });
}
void ProfilingBackend::attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh,
                                              int hs) {
  timed("attention_forward_bf16", attention_flops(b, t, nh, hs),
        [&] { inner_->attention_forward_bf16(out, lse, qkv, b, t, nh, hs); });
}
void ProfilingBackend::attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse,
                                               const bf16* qkv, int b, int t, int nh, int hs) {
  timed("attention_backward_bf16", attention_flops(b, t, nh, hs, true),
        [&] { inner_->attention_backward_bf16(dqkv, dout, out, lse, qkv, b, t, nh, hs); });
}

void ProfilingBackend::crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                                     const int32_t* targets, int n, int v, int vp, float dloss) {
  timed("crossentropy_forward_backward", 0,
        [&] { inner_->crossentropy_forward_backward(losses, dlogits, logits, targets, n, v, vp, dloss); });
}
void ProfilingBackend::crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start) {
  timed("crossentropy_vp_max", 0, [&] { inner_->crossentropy_vp_max(maxes, logits, n, vs, v, vocab_start); });
}
void ProfilingBackend::crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits,
                                              const float* maxes, const int32_t* targets, int n, int vs, int v,
                                              int vocab_start) {
  timed("crossentropy_vp_sumexp", 0, [&] {
    inner_->crossentropy_vp_sumexp(sumexp, target_logits, logits, maxes, targets, n, vs, v, vocab_start);
  });
}
void ProfilingBackend::crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits,
                                                        const float* maxes, const float* sumexp,
                                                        const float* target_logits, const int32_t* targets, int n,
                                                        int vs, int v, int vocab_start, float dloss) {
  timed("crossentropy_vp_forward_backward", 0, [&] {
    inner_->crossentropy_vp_forward_backward(losses, dlogits, logits, maxes, sumexp, target_logits, targets, n, vs, v,
                                             vocab_start, dloss);
  });
}

void ProfilingBackend::adamw_update(float* params, const float* grads, float* m, float* v,
                                    std::span<const ParamSegment> segments, const AdamWParams& hp) {
  timed("adamw_update", 0, [&] { inner_->adamw_update(params, grads, m, v, segments, hp); });
}
void ProfilingBackend::sum_squares(float* out, const float* x, std::size_t n) {
  timed("sum_squares", 0, [&] { inner_->sum_squares(out, x, n); });
}
void ProfilingBackend::sum(float* out, const float* x, std::size_t n) {
  timed("sum", 0, [&] { inner_->sum(out, x, n); });
}

std::unique_ptr<Backend> make_profiling_backend(std::unique_ptr<Backend> inner) {
  return std::make_unique<ProfilingBackend>(std::move(inner));
}

std::string profile_report(const Backend& backend, int64_t steps) {
  const auto* profiling = dynamic_cast<const ProfilingBackend*>(&backend);
  return profiling != nullptr ? profiling->report(steps) : std::string();
}

void profile_reset(Backend& backend) {
  if (auto* profiling = dynamic_cast<ProfilingBackend*>(&backend)) profiling->reset();
}

Backend& unprofiled(Backend& backend) {
  auto* profiling = dynamic_cast<ProfilingBackend*>(&backend);
  return profiling != nullptr ? profiling->inner() : backend;
}

}  // namespace strata
