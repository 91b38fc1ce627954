// backend.h — the compute backend interface: device memory, an in-order compute stream, and the ops
// the GPT model is made of. The CPU backend (kernels/cpu) implements it with CBLAS + OpenMP; the CUDA
// backend (kernels/cuda) implements the same interface on a device stream.
//
// Rules every implementation follows:
//  - All pointers passed to ops are device pointers from allocate(); the host never dereferences them.
//  - Ops are enqueued in order on the backend's compute stream and may return before they finish.
//    copy_to_host() and synchronize() are the only calls that wait. Ops never return values to the
//    host: results (losses, norms) land in device buffers and are copied back explicitly.
//  - Matrices are row-major. A linear layer's weight is (OC, C) and computes out = inp @ W^T + b.
//  - Gradient convention (as in llm.c): parameter gradients accumulate (+=) so that micro-batches sum;
//    activation gradients are overwritten (=), except layernorm_backward's dinp, which accumulates
//    into the residual-stream gradient (see model). Scratch outputs may alias inputs only where noted.
//  - Reductions are deterministic: for a fixed problem their result does not depend on thread count
//    or timing (fixed chunking, fixed summation order), which bit-exact resume relies on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "kernels/bf16.h"

namespace strata {

enum class DeviceKind { cpu, cuda };

// One contiguous range of a flat parameter buffer and its AdamW weight-decay setting. The optimizer
// state (m, v) of the range starts at state_offset, which lets ZeRO keep a rank's shard of the state
// in a compact buffer; by default the state is laid out like the parameters.
struct ParamSegment {
  static constexpr std::size_t kSameAsParams = static_cast<std::size_t>(-1);
  std::size_t offset = 0;  // in elements, into params and grads
  std::size_t count = 0;
  bool weight_decay = true;
  std::size_t state_offset = kSameAsParams;  // into m and v
  // ZeRO-2: the gradient lies in a compact buffer laid out like m and v (at state()), not at offset.
  bool grad_at_state = false;
  std::size_t state() const { return state_offset == kSameAsParams ? offset : state_offset; }
  std::size_t grad() const { return grad_at_state ? state() : offset; }
};

struct AdamWParams {
  float lr = 0.f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  float grad_scale = 1.f;  // multiplies every gradient first (gradient clipping)
  long step = 1;           // 1-based step for bias correction
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;

  // ---- memory ----
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr) noexcept = 0;
  virtual void copy_to_device(void* dst, const void* host_src, std::size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t bytes) = 0;  // waits
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;  // device to device
  virtual void fill_zero(void* ptr, std::size_t bytes) = 0;

  // ---- stream ----
  virtual void synchronize() = 0;

  // ---- linear layers ----
  // out(N,OC) = inp(N,C) @ w(OC,C)^T + bias(OC); bias may be null.
  virtual void matmul_forward(float* out, const float* inp, const float* w, const float* bias,
                              int n, int c, int oc) = 0;
  // dinp(N,C) = dout(N,OC) @ w (dinp may be null: skipped); dw(OC,C) += dout^T @ inp;
  // dbias(OC) += column sums of dout (dbias may be null).
  virtual void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout,
                               const float* inp, const float* w, int n, int c, int oc) = 0;

  // ---- bf16 (train.precision=bf16; kernels/bf16.h) ----
  // The activations that only feed GEMMs and the attention (LayerNorm outputs, qkv, the attention output,
  // the MLP's pre-activation and GELU output) are stored in bf16: the op that produces one rounds it once,
  // from its fp32 result, and the GEMMs read it as it is. Products are exact (bf16 x bf16 fits fp32) and
  // accumulate in fp32; biases, the residual stream, output gradients, weight gradients, softmax and
  // LayerNorm statistics stay fp32. Output gradients (dout) are rounded to bf16 where they enter a GEMM
  // (in scratch). The CPU backend emulates this (widens or rounds into fp32 scratch, then sgemm and its
  // fp32 kernels); CUDA runs cuBLASLt on bf16 operands and tensor-core attention.
  //
  // dst(n) = bf16 of src(n), rounded to nearest even (math::float_to_bf16): the model's working copy of
  // its fp32 master weights.
  virtual void to_bf16(bf16* dst, const float* src, std::size_t n) = 0;
  // layernorm_forward with out rounded to bf16 (mean and rstd fp32, as in layernorm_forward).
  virtual void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* w,
                                      const float* b, int n, int c, float eps) = 0;
  // out(N,OC) = inp(N,C) @ w(OC,C)^T + bias(OC): fp32 accumulation, the fp32 bias added to the fp32 sum;
  // out fp32, or (second form) that fp32 result rounded once to bf16.
  virtual void matmul_forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                   int oc) = 0;
  virtual void matmul_forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                                   int oc) = 0;
  // matmul_backward with bf16 operands: dout is rounded to bf16 where it enters the two GEMMs; dinp (= , may be
  // null) and dw (+=) are fp32; dbias (+=, may be null) sums the fp32 dout.
  virtual void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp,
                                    const bf16* w, int n, int c, int oc) = 0;
  // The MLP's GELU with its neighbouring GEMMs (CUDA: the forward is one GEMM with cuBLASLt's
  // GELU_AUX_BIAS epilogue where offered; the backward stays GEMMs then the GELU kernel, measured faster):
  //  forward:  p = inp @ w^T + bias in fp32; pre(N,OC) = bf16(p) (kept for backward), out(N,OC) =
  //            bf16(gelu_tanh(p)), the GELU of the unrounded sum;
  //  backward: matmul_backward_bf16 of the next layer, whose input inp(N,C) = out of the forward, with its
  //            dinp (not null) multiplied by gelu_tanh'(pre) (pre widened exactly): the gradient wrt pre.
  virtual void matmul_gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w, const float* bias,
                                        int n, int c, int oc) = 0;
  virtual void matmul_dgelu_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp,
                                          const bf16* pre, const bf16* w, int n, int c, int oc) = 0;
  // Causal attention (as attention_forward/backward below) on bf16 qkv: out is rounded once to bf16 at the
  // end, lse and dqkv are fp32, dout is rounded to bf16 where it enters a product. CUDA runs tensor-core
  // kernels, which also round the probabilities P and dS where they enter a product; accumulation,
  // scores and softmax statistics are fp32. The CPU backend widens q, k, v and out, rounds dO and runs
  // its fp32 kernels (P and dS stay fp32 there, a difference well inside the tests' bf16 tolerance).
  virtual void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs) = 0;
  virtual void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse,
                                       const bf16* qkv, int b, int t, int nh, int hs) = 0;

  // ---- embedding ----
  // out(N,C) = wte[tokens[i]] (rows of tokens outside [vocab_start, vocab_start+vocab_count) are zero)
  //            + wpe[i % T] when wpe is not null.  tokens: (N) int32, N = B*T.
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                                 int n, int t, int c, int vocab_start, int vocab_count) = 0;
  // dwte += scatter of dout rows by token (rows outside this vocab slice skipped); dwpe += sum over batch.
  virtual void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                                  int n, int t, int c, int vocab_start, int vocab_count) = 0;

  // ---- layernorm (eps given) ----
  // out(N,C) = (inp - mean) * rstd * w + b; saves mean(N), rstd(N) for backward.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                 const float* b, int n, int c, float eps) = 0;
  // dinp(N,C) += ..., dw(C) += ..., db(C) += ...
  virtual void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                                  const float* w, const float* mean, const float* rstd, int n, int c) = 0;

  // ---- pointwise ----
  // out = gelu_tanh(inp); out may alias inp.
  virtual void gelu_forward(float* out, const float* inp, std::size_t n) = 0;
  // dinp = gelu_tanh'(inp) * dout; dinp may alias dout.
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) = 0;
  // out = a + b; out may alias a or b.
  virtual void add(float* out, const float* a, const float* b, std::size_t n) = 0;

  // ---- attention ----
  // Causal multi-head self-attention over qkv(B,T,3*NH*HS) laid out [q heads | k heads | v heads].
  // out(B,T,NH*HS); lse(B,NH,T) keeps the log-sum-exp of each query row for backward. Never
  // materializes a (T,T) matrix: memory beyond the outputs is O(tile) per thread.
  virtual void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) = 0;
  // dqkv(B,T,3*NH*HS) = gradient wrt qkv, recomputing the probabilities tile by tile from lse.
  virtual void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse,
                                  const float* qkv, int b, int t, int nh, int hs) = 0;

  // ---- loss ----
  // Fused softmax cross-entropy over logits(N,Vp), of which the first v columns are real (padding
  // columns are ignored). losses(N) = -log softmax(logits)[target]. When dlogits is not null it
  // receives (softmax - onehot(target)) * dloss for the real columns and 0 for padding; dlogits may
  // alias logits (the probabilities are never kept in a separate tensor).
  virtual void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                             const int32_t* targets, int n, int v, int vp, float dloss) = 0;

  // Vocab-parallel cross-entropy (Megatron): each tensor rank holds logits(N,Vs) for the vocabulary
  // slice [vocab_start, vocab_start+Vs) of the padded vocabulary; its real columns are those whose global
  // id is < v (possibly none). The full logits are never gathered: the caller all-reduces the
  // statistics between the three passes.
  //  1. maxes(N) = max over the slice's real columns (-inf when it has none)   -> all-reduce max
  //  2. sumexp(N) = sum over real columns of exp(logit - maxes); target_logits(N) = the target's logit
  //     when the target is in the slice, else 0                                 -> all-reduce sum
  //  3. losses(N) = log(sumexp) + maxes - target_logits; when dlogits is not null it receives
  //     (softmax - onehot(target)) * dloss on the real columns of the slice and 0 on its padding;
  //     dlogits may alias logits.
  virtual void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start) = 0;
  virtual void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                                      const int32_t* targets, int n, int vs, int v, int vocab_start) = 0;
  virtual void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits,
                                                const float* maxes, const float* sumexp, const float* target_logits,
                                                const int32_t* targets, int n, int vs, int v, int vocab_start,
                                                float dloss) = 0;

  // ---- optimizer ----
  // Fused AdamW over every segment of a flat parameter buffer, decoupled weight decay where the
  // segment asks for it: g = grad*grad_scale; m,v updated; p -= lr*(mhat/(sqrt(vhat)+eps) + wd*p).
  virtual void adamw_update(float* params, const float* grads, float* m, float* v,
                            std::span<const ParamSegment> segments, const AdamWParams& hp) = 0;
  // out[0] = sum of x[i]^2 (one float on the device), deterministic.
  virtual void sum_squares(float* out, const float* x, std::size_t n) = 0;
  // out[0] = sum of x[i], deterministic.
  virtual void sum(float* out, const float* x, std::size_t n) = 0;
};

// The CPU backend (always built).
std::unique_ptr<Backend> make_cpu_backend();

// The CUDA backend on one GPU (kernels/cuda). allow_tf32 lets the fp32 GEMMs use TF32 tensor cores
// (about 1e-3 relative error; off by default and in the tests).
struct CudaOptions {
  int device = 0;
  bool allow_tf32 = false;
};
// Throws Error(config) when Strata was built without CUDA (cuda_backend_built() is false) or the
// device is not usable.
std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options = {});
bool cuda_backend_built();
// Visible CUDA devices; 0 without a GPU, without a driver, or in a build without CUDA (never throws).
int cuda_device_count();

// Owning device buffer of T (RAII over Backend::allocate/deallocate).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& be, std::size_t count)
      : be_(&be), ptr_(static_cast<T*>(count ? be.allocate(count * sizeof(T)) : nullptr)), count_(count) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  void zero() {
    if (ptr_) be_->fill_zero(ptr_, bytes());
  }
  void reset() noexcept {
    if (ptr_) be_->deallocate(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(be_, o.be_);
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
  }
  Backend* be_ = nullptr;
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace strata
