// profiling_backend.h — ProfilingBackend: a decorator over any Backend that times every op (wall clock,
// one inner synchronize() before and after each op) and accumulates calls, seconds and, for GEMMs and
// attention, FLOPs per op name, so a run can print where a training step's time goes (STRATA_PROFILE_OPS=1,
// src/device_select.h).
//
// Rules:
//  - Results are bit-identical to the inner backend's: every call is forwarded unchanged, in order.
//  - kind() and name() are the inner backend's (callers branch on kind()).
//  - allocate, deallocate and synchronize are forwarded untimed; every other method is an op.
//  - The synchronizes serialize the stream, so an op's time includes its launch latency and the overlap
//    a real run gets between ops (and with communication) is gone: the total over ops is an upper bound
//    of the compute time of an unprofiled step, and the shares are what the table is for.
//  - FLOPs (for TFLOP/s): a GEMM of out(N,OC) = inp(N,C) @ w^T counts 2*N*C*OC forward, and backward
//    4*N*C*OC (dinp and dw) or 2*N*C*OC when dinp is null; causal attention counts 2*2*B*NH*HS*T*(T+1)/2
//    forward (scores and values over the unmasked half, diagonal included) and 2.5x that backward.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "kernels/backend.h"

namespace strata {

class ProfilingBackend final : public Backend {
 public:
  struct OpStats {
    int64_t calls = 0;
    double seconds = 0.0;
    double flops = 0.0;  // 0 where the op has no FLOP count
  };

  explicit ProfilingBackend(std::unique_ptr<Backend> inner);

  Backend& inner() { return *inner_; }
  // The accumulated figures of `op` (zeros when it never ran) and of every op that ran.
  OpStats stats(const std::string& op) const;
  const std::map<std::string, OpStats>& all_stats() const { return stats_; }
  // Forgets every figure (e.g. after a warm-up step).
  void reset() { stats_.clear(); }
  // A table sorted by total time, longest first: op, calls, total ms, ms/call, ms/step (when steps > 0:
  // totals divided by steps), share of the profiled time, TFLOP/s where the op has a FLOP count.
  std::string report(int64_t steps = 0) const;

  DeviceKind kind() const override { return inner_->kind(); }
  std::string name() const override { return inner_->name(); }

  void* allocate(std::size_t bytes) override { return inner_->allocate(bytes); }
  void deallocate(void* ptr) noexcept override { inner_->deallocate(ptr); }
  void copy_to_device(void* dst, const void* host_src, std::size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void fill_zero(void* ptr, std::size_t bytes) override;
  void synchronize() override { inner_->synchronize(); }

  void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int n, int c,
                      int oc) override;
  void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w,
                       int n, int c, int oc) override;
  void to_bf16(bf16* dst, const float* src, std::size_t n) override;
  void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                              int n, int c, float eps) override;
  void matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                           int oc) override;
  void matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                           int oc) override;
  void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w,
                            int n, int c, int oc) override;
  void matmul_gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                int oc) override;
  void matmul_dgelu_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp,
                                  const bf16* pre, const bf16* w, int n, int c, int oc) override;
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                         int vocab_start, int vocab_count) override;
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                          int vocab_start, int vocab_count) override;
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                         int n, int c, float eps) override;
  void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                          const float* mean, const float* rstd, int n, int c) override;
  void gelu_forward(float* out, const float* inp, std::size_t n) override;
  void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) override;
  void add(float* out, const float* a, const float* b, std::size_t n) override;
  void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) override;
  void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                          int t, int nh, int hs) override;
  void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs) override;
  void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                               int b, int t, int nh, int hs) override;
  void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                     int n, int v, int vp, float dloss) override;
  void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start) override;
  void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                              const int32_t* targets, int n, int vs, int v, int vocab_start) override;
  void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                        const float* sumexp, const float* target_logits, const int32_t* targets,
                                        int n, int vs, int v, int vocab_start, float dloss) override;
  void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                    const AdamWParams& hp) override;
  void sum_squares(float* out, const float* x, std::size_t n) override;
  void sum(float* out, const float* x, std::size_t n) override;

 private:
  // Runs f (one inner op) between two inner synchronizes and adds its wall time and `flops` to `op`.
  template <typename F>
  void timed(const char* op, double flops, F&& f);

  std::unique_ptr<Backend> inner_;
  std::map<std::string, OpStats> stats_;
};

std::unique_ptr<Backend> make_profiling_backend(std::unique_ptr<Backend> inner);

// `backend`'s report (ProfilingBackend::report) when it is a ProfilingBackend, "" otherwise.
std::string profile_report(const Backend& backend, int64_t steps = 0);
// ProfilingBackend::reset when `backend` is a ProfilingBackend; nothing otherwise.
void profile_reset(Backend& backend);
// The backend a ProfilingBackend wraps, or `backend` itself: what code that needs the concrete backend
// (the NCCL communicators take the CUDA backend's streams) is given.
Backend& unprofiled(Backend& backend);

}  // namespace strata
