// pointwise.cu — elementwise GELU, add and the fp32 <-> bf16 conversions (see pointwise.cuh): grid-stride
// loops, 256 threads. Kernels that exist for fp32 and bf16 storage are one template over the stored type
// (convert.cuh: widened on read, rounded once on write).
#include <algorithm>

#include "kernels/cuda/convert.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/pointwise.cuh"
#include "kernels/pointwise_math.h"

namespace strata::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 65535u * 4;

unsigned grid_for(std::size_t n) { return std::min(blocks_for(n, kThreads), kMaxBlocks); }

// out = gelu(inp) and, when pre is not null, pre = inp, both stored as Out. inp is read before out is
// written: out may alias inp when Out is float.
template <typename Out>
__global__ void gelu_forward_kernel(Out* out, Out* pre, const float* inp, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float x = inp[i];
    if (pre != nullptr) pre[i] = from_float<Out>(x);
    out[i] = from_float<Out>(math::gelu(x));
  }
}

template <typename In>
__global__ void gelu_backward_kernel(float* dinp, const In* inp, const float* dout, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    dinp[i] = math::gelu_grad(to_float(inp[i])) * dout[i];
}

__global__ void add_kernel(float* out, const float* a, const float* b, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

// dst = src converted between the storage types (float -> bf16 rounds, bf16 -> float is exact).
template <typename Dst, typename Src>
__global__ void convert_kernel(Dst* dst, const Src* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    dst[i] = from_float<Dst>(to_float(src[i]));
}

__global__ void round_to_bf16_kernel(float* dst, const float* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    dst[i] = math::round_to_bf16(src[i]);
}

template <typename Out>
void launch_gelu_forward(Out* out, Out* pre, const float* inp, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, pre, inp, n);
  CUDA_CHECK_LAUNCH();
}

template <typename In>
void launch_gelu_backward(float* dinp, const In* inp, const float* dout, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH();
}

template <typename Dst, typename Src>
void launch_convert(Dst* dst, const Src* src, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  convert_kernel<<<grid_for(n), kThreads, 0, stream>>>(dst, src, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void gelu_forward(float* out, const float* inp, std::size_t n, cudaStream_t stream) {
  launch_gelu_forward<float>(out, nullptr, inp, n, stream);
}

void gelu_forward(bf16* out, bf16* pre, const float* inp, std::size_t n, cudaStream_t stream) {
  launch_gelu_forward(out, pre, inp, n, stream);
}

void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n, cudaStream_t stream) {
  launch_gelu_backward(dinp, inp, dout, n, stream);
}

void gelu_backward(float* dinp, const bf16* inp, const float* dout, std::size_t n, cudaStream_t stream) {
  launch_gelu_backward(dinp, inp, dout, n, stream);
}

void add(float* out, const float* a, const float* b, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, a, b, n);
  CUDA_CHECK_LAUNCH();
}

void to_bf16(bf16* dst, const float* src, std::size_t n, cudaStream_t stream) { launch_convert(dst, src, n, stream); }

void widen_bf16(float* dst, const bf16* src, std::size_t n, cudaStream_t stream) { launch_convert(dst, src, n, stream); }

void round_to_bf16(float* dst, const float* src, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  round_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(dst, src, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace strata::cuda
