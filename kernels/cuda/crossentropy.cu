// crossentropy.cu — softmax cross-entropy kernels, one 512-thread block per row (see crossentropy.cuh).
#include <algorithm>
#include <cmath>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/crossentropy.cuh"
#include "kernels/cuda/cuda_check.cuh"

namespace strata::cuda {
namespace {

constexpr int kThreads = 512;

__device__ float row_max(const float* l, int real) {
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < real; j += kThreads) mx = fmaxf(mx, l[j]);
  return block_reduce(mx, MaxOp<float>{}, -INFINITY);
}

__device__ float row_sumexp(const float* l, int real, float mx) {
  float s = 0.0f;
  for (int j = threadIdx.x; j < real; j += kThreads) s += expf(l[j] - mx);
  return block_reduce(s, SumOp<float>{}, 0.0f);
}

// d[j] = exp(l[j] - mx) * dloss / s - (j == target ? dloss : 0) on [0, real); 0 on [real, width).
// `target` is the local column or -1. The caller has finished reading the row's statistics.
__device__ void write_row_gradient(float* d, const float* l, int real, int width, float mx, float s, int target,
                                   float dloss) {
  const float scale = dloss / s;
  for (int j = threadIdx.x; j < width; j += kThreads) {
    float g = 0.0f;
    if (j < real) {
      g = expf(l[j] - mx) * scale;
      if (j == target) g -= dloss;
    }
    d[j] = g;
  }
}

__global__ void crossentropy_kernel(float* losses, float* dlogits, const float* logits, const int32_t* targets, int v,
                                    int vp, float dloss) {
  const int i = blockIdx.x;
  const float* l = logits + static_cast<std::size_t>(i) * vp;
  const int target = targets[i];
  const float target_logit = l[target];  // every thread reads it before any write to the (aliased) row
  const float mx = row_max(l, v);
  const float s = row_sumexp(l, v, mx);  // block_reduce syncs: all reads of l above are done
  if (threadIdx.x == 0) losses[i] = logf(s) + mx - target_logit;
  if (dlogits != nullptr) write_row_gradient(dlogits + static_cast<std::size_t>(i) * vp, l, v, vp, mx, s, target, dloss);
}

__device__ int real_columns(int vs, int v, int vocab_start) { return min(max(v - vocab_start, 0), vs); }

__global__ void crossentropy_vp_max_kernel(float* maxes, const float* logits, int vs, int v, int vocab_start) {
  const int i = blockIdx.x;
  const float mx = row_max(logits + static_cast<std::size_t>(i) * vs, real_columns(vs, v, vocab_start));
  if (threadIdx.x == 0) maxes[i] = mx;
}

__global__ void crossentropy_vp_sumexp_kernel(float* sumexp, float* target_logits, const float* logits,
                                              const float* maxes, const int32_t* targets, int vs, int v,
                                              int vocab_start) {
  const int i = blockIdx.x;
  const int real = real_columns(vs, v, vocab_start);
  const float* l = logits + static_cast<std::size_t>(i) * vs;
  const float s = row_sumexp(l, real, maxes[i]);
  if (threadIdx.x == 0) {
    sumexp[i] = s;
    const int local = targets[i] - vocab_start;
    target_logits[i] = (local >= 0 && local < real) ? l[local] : 0.0f;
  }
}

__global__ void crossentropy_vp_forward_backward_kernel(float* losses, float* dlogits, const float* logits,
                                                        const float* maxes, const float* sumexp,
                                                        const float* target_logits, const int32_t* targets, int vs,
                                                        int v, int vocab_start, float dloss) {
  const int i = blockIdx.x;
  const float mx = maxes[i], s = sumexp[i];
  if (threadIdx.x == 0) losses[i] = logf(s) + mx - target_logits[i];
  if (dlogits == nullptr) return;
  const int real = real_columns(vs, v, vocab_start);
  const int local = targets[i] - vocab_start;
  write_row_gradient(dlogits + static_cast<std::size_t>(i) * vs, logits + static_cast<std::size_t>(i) * vs, real, vs,
                     mx, s, (local >= 0 && local < real) ? local : -1, dloss);
}

}  // namespace

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets, int n,
                                   int v, int vp, float dloss, cudaStream_t stream) {
  if (n <= 0) return;
  crossentropy_kernel<<<n, kThreads, 0, stream>>>(losses, dlogits, logits, targets, v, vp, dloss);
  CUDA_CHECK_LAUNCH();
}

void crossentropy_vp_max(float* maxes, const float* logits, int n, int vs, int v, int vocab_start,
                         cudaStream_t stream) {
  if (n <= 0) return;
  crossentropy_vp_max_kernel<<<n, kThreads, 0, stream>>>(maxes, logits, vs, v, vocab_start);
  CUDA_CHECK_LAUNCH();
}

void crossentropy_vp_sumexp(float* sumexp, float* target_logits, const float* logits, const float* maxes,
                            const int32_t* targets, int n, int vs, int v, int vocab_start, cudaStream_t stream) {
  if (n <= 0) return;
  crossentropy_vp_sumexp_kernel<<<n, kThreads, 0, stream>>>(sumexp, target_logits, logits, maxes, targets, vs, v,
                                                            vocab_start);
  CUDA_CHECK_LAUNCH();
}

void crossentropy_vp_forward_backward(float* losses, float* dlogits, const float* logits, const float* maxes,
                                      const float* sumexp, const float* target_logits, const int32_t* targets, int n,
                                      int vs, int v, int vocab_start, float dloss, cudaStream_t stream) {
  if (n <= 0) return;
  crossentropy_vp_forward_backward_kernel<<<n, kThreads, 0, stream>>>(losses, dlogits, logits, maxes, sumexp,
                                                                      target_logits, targets, vs, v, vocab_start,
                                                                      dloss);
  CUDA_CHECK_LAUNCH();
}

}  // namespace strata::cuda
