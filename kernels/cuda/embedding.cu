// embedding.cu — embedding forward (gather) and backward (ordered scatter-add), see embedding.cuh.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/embedding.cuh"

namespace strata::cuda {
namespace {

// Token classes of the backward scatter: more classes, more parallelism (c * classes threads), but
// every thread re-reads the token list.
constexpr int kTokenClasses = 32;

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n,
                                         int t, int c, int vocab_start, int vocab_count) {
  const std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (idx >= std::size_t(n) * c) return;
  const int i = static_cast<int>(idx / c), j = static_cast<int>(idx % c);
  const int local = tokens[i] - vocab_start;
  float v = (local >= 0 && local < vocab_count) ? wte[std::size_t(local) * c + j] : 0.0f;
  if (wpe != nullptr) v += wpe[std::size_t(i % t) * c + j];
  out[idx] = v;
}

// blockIdx.y = token class; x covers the columns.
__global__ void embedding_wte_backward_kernel(float* dwte, const float* dout, const int32_t* tokens, int n, int c,
                                              int vocab_start, int vocab_count) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int cls = blockIdx.y;
  if (j >= c) return;
  for (int i = 0; i < n; ++i) {
    const int local = tokens[i] - vocab_start;
    if (local < 0 || local >= vocab_count || local % kTokenClasses != cls) continue;
    dwte[std::size_t(local) * c + j] += dout[std::size_t(i) * c + j];
  }
}

// One thread per (position, column): sums the batch in order.
__global__ void embedding_wpe_backward_kernel(float* dwpe, const float* dout, int n, int t, int c) {
  const std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (idx >= std::size_t(t) * c) return;
  const int pos = static_cast<int>(idx / c), j = static_cast<int>(idx % c);
  float s = dwpe[idx];
  for (int b = 0; b < n / t; ++b) s += dout[(std::size_t(b) * t + pos) * c + j];
  dwpe[idx] = s;
}

}  // namespace

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int n, int t, int c,
                       int vocab_start, int vocab_count, cudaStream_t stream) {
  if (n <= 0 || c <= 0) return;
  const std::size_t total = std::size_t(n) * c;
  embedding_forward_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(out, tokens, wte, wpe, n, t, c, vocab_start,
                                                                       vocab_count);
  CUDA_CHECK_LAUNCH();
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int n, int t, int c,
                        int vocab_start, int vocab_count, cudaStream_t stream) {
  if (n <= 0 || c <= 0) return;
  const dim3 grid(blocks_for(c, 128), kTokenClasses);
  embedding_wte_backward_kernel<<<grid, 128, 0, stream>>>(dwte, dout, tokens, n, c, vocab_start, vocab_count);
  CUDA_CHECK_LAUNCH();
  if (dwpe == nullptr) return;
  embedding_wpe_backward_kernel<<<blocks_for(std::size_t(t) * c, 256), 256, 0, stream>>>(dwpe, dout, n, t, c);
  CUDA_CHECK_LAUNCH();
}

}  // namespace strata::cuda
