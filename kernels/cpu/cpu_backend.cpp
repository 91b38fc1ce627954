// cpu_backend.cpp — the CPU backend: host memory, a stream that runs each op to completion on the
// calling thread (ops parallelize internally with OpenMP), and the ops of kernels/cpu/ops.h.
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/ops.h"
#include "kernels/error.h"

namespace strata {
namespace {

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::cpu; }
  std::string name() const override { return "cpu"; }

  void* allocate(std::size_t bytes) override {
    // 64-byte alignment: full cache lines and aligned AVX-512 loads.
    constexpr std::size_t kAlign = 64;
    void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
    STRATA_CHECK(p != nullptr, internal, "cpu backend: out of host memory allocating ", bytes, " bytes");
    return p;
  }
  void deallocate(void* ptr) noexcept override { std::free(ptr); }
  void copy_to_device(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, std::size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill_zero(void* ptr, std::size_t bytes) override { std::memset(ptr, 0, bytes); }
  void synchronize() override {}

  void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int n, int c,
                      int oc) override {
    cpu::matmul_forward(out, inp, w, bias, n, c, oc);
  }
  void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w,
                       int n, int c, int oc) override {
    cpu::matmul_backward(dinp, dw, dbias, dout, inp, w, n, c, oc);
  }
  void to_bf16(bf16* dst, const float* src, std::size_t n) override { cpu::to_bf16(dst, src, n); }
  void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                              int n, int c, float eps) override {
    cpu::layernorm_forward_bf16(out, mean, rstd, inp, w, b, n, c, eps);
  }
  void matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                           int oc) override {
    cpu::matmul_forward_bf16(out, inp, w, bias, n, c, oc);
  }
  void matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                           int oc) override {
    cpu::matmul_forward_bf16(out, inp, w, bias, n, c, oc);
  }
  void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w,
                            int n, int c, int oc) override {
    cpu::matmul_backward_bf16(dinp, dw, dbias, dout, inp, w, n, c, oc);
  }
  void matmul_gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                int oc) override {
    std::vector<float> p(std::size_t(n) * oc);
    cpu::matmul_forward_bf16(p.data(), inp, w, bias, n, c, oc);
    cpu::gelu_forward_bf16(out, pre, p.data(), p.size());
  }
  void matmul_dgelu_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp,
                                  const bf16* pre, const bf16* w, int n, int c, int oc) override {
    cpu::matmul_backward_bf16(dinp, dw, dbias, dout, inp, w, n, c, oc);
    cpu::gelu_backward_bf16(dinp, pre, dinp, std::size_t(n) * c);
  }
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                         int vocab_start, int vocab_count) override {
    cpu::embedding_forward(out, tokens, wte, wpe, n, t, c, vocab_start, vocab_count);
  }
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                          int vocab_start, int vocab_count) override {
    cpu::embedding_backward(dwte, dwpe, dout, tokens, n, t, c, vocab_start, vocab_count);
  }
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                         int n, int c, float eps) override {
    cpu::layernorm_forward(out, mean, rstd, inp, w, b, n, c, eps);
  }
  void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                          const float* mean, const float* rstd, int n, int c) override {
    cpu::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, n, c);
  }
  void gelu_forward(float* out, const float* inp, std::size_t n) override { cpu::gelu_forward(out, inp, n); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) override {
    cpu::gelu_backward(dinp, inp, dout, n);
  }
  void add(float* out, const float* a, const float* b, std::size_t n) override { cpu::add(out, a, b, n); }
  void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) override {
    cpu::attention_forward(out, lse, qkv, b, t, nh, hs);
  }
  void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                          int t, int nh, int hs) override {
    cpu::attention_backward(dqkv, dout, out, lse, qkv, b, t, nh, hs);
  }
  void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs) override {
    cpu::attention_forward_bf16(out, lse, qkv, b, t, nh, hs);
  }
  void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                               int b, int t, int nh, int hs) override {
    cpu::attention_backward_bf16(dqkv, dout, out, lse, qkv, b, t, nh, hs);
  }
  void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                     int n, int v, int vp, float dloss) override {
    cpu::crossentropy_forward_backward(losses, dlogits, logits, targets, n, v, vp, dloss);
  }
  void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start) override {
    cpu::crossentropy_vp_max(maxes, logits, n, vs, v, vocab_start);
  }
  void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                              const int32_t* targets, int n, int vs, int v, int vocab_start) override {
    cpu::crossentropy_vp_sumexp(sumexp, target_logits, logits, maxes, targets, n, vs, v, vocab_start);
  }
  void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                        const float* sumexp, const float* target_logits, const int32_t* targets,
                                        int n, int vs, int v, int vocab_start, float dloss) override {
    cpu::crossentropy_vp_forward_backward(losses, dlogits, logits, maxes, sumexp, target_logits, targets, n, vs, v,
                                          vocab_start, dloss);
  }
  void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                    const AdamWParams& hp) override {
    cpu::adamw_update(params, grads, m, v, segments, hp);
  }
  void sum_squares(float* out, const float* x, std::size_t n) override { cpu::sum_squares(out, x, n); }
  void sum(float* out, const float* x, std::size_t n) override { cpu::sum(out, x, n); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace strata
