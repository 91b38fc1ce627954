// layernorm.cu — LayerNorm forward/backward, one warp per row (see layernorm.cuh). The forward is one
// kernel template over the output's storage type (fp32, or bf16 rounded once from the fp32 result).
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/convert.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/layernorm.cuh"
#include "kernels/cuda/reduce.cuh"

namespace strata::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // warps per block

template <typename Out>
__global__ void layernorm_forward_kernel(Out* out, float* mean, float* rstd, const float* inp, const float* w,
                                         const float* b, int n, int c, float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= n) return;  // whole warps leave together: the shuffles below see full warps
  const float* x = inp + static_cast<std::size_t>(row) * c;
  float s = 0.0f;
  for (int j = lane; j < c; j += kWarp) s += x[j];
  const float m = warp_reduce(s, SumOp<float>{}) / c;
  float v = 0.0f;
  for (int j = lane; j < c; j += kWarp) v += (x[j] - m) * (x[j] - m);
  const float r = 1.0f / sqrtf(warp_reduce(v, SumOp<float>{}) / c + eps);
  Out* o = out + static_cast<std::size_t>(row) * c;
  for (int j = lane; j < c; j += kWarp) o[j] = from_float<Out>((x[j] - m) * r * w[j] + b[j]);
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

// dinp += (g*w - mean(g*w) - xhat * mean(g*w*xhat)) * rstd.
__global__ void layernorm_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* w,
                                      const float* mean, const float* rstd, int n, int c) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= n) return;
  const std::size_t base = static_cast<std::size_t>(row) * c;
  const float m = mean[row], r = rstd[row];
  float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
  for (int j = lane; j < c; j += kWarp) {
    const float dnorm = dout[base + j] * w[j];
    dnorm_mean += dnorm;
    dnorm_norm_mean += dnorm * (inp[base + j] - m) * r;
  }
  dnorm_mean = warp_reduce(dnorm_mean, SumOp<float>{}) / c;
  dnorm_norm_mean = warp_reduce(dnorm_norm_mean, SumOp<float>{}) / c;
  for (int j = lane; j < c; j += kWarp) {
    const float norm = (inp[base + j] - m) * r;
    dinp[base + j] += (dout[base + j] * w[j] - dnorm_mean - norm * dnorm_norm_mean) * r;
  }
}

// dw term: dout * xhat.
struct LayerNormWeightTerm {
  const float* dout;
  const float* inp;
  const float* mean;
  const float* rstd;
  int c;
  __device__ float operator()(int i, int j) const {
    const std::size_t k = static_cast<std::size_t>(i) * c + j;
    return dout[k] * (inp[k] - mean[i]) * rstd[i];
  }
};

template <typename Out>
void launch_layernorm_forward(Out* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                              int n, int c, float eps, cudaStream_t stream) {
  if (n <= 0) return;
  layernorm_forward_kernel<<<blocks_for(n, kRowsPerBlock), kRowsPerBlock * kWarp, 0, stream>>>(out, mean, rstd, inp,
                                                                                              w, b, n, c, eps);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps, cudaStream_t stream) {
  launch_layernorm_forward(out, mean, rstd, inp, w, b, n, c, eps, stream);
}

void layernorm_forward(bf16* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int n,
                       int c, float eps, cudaStream_t stream) {
  launch_layernorm_forward(out, mean, rstd, inp, w, b, n, c, eps, stream);
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int n, int c, DeviceAllocator& alloc,
                        cudaStream_t stream) {
  if (n <= 0) return;
  layernorm_dinp_kernel<<<blocks_for(n, kRowsPerBlock), kRowsPerBlock * kWarp, 0, stream>>>(dinp, dout, inp, w, mean,
                                                                                           rstd, n, c);
  CUDA_CHECK_LAUNCH();
  column_sum_accumulate(dw, LayerNormWeightTerm{dout, inp, mean, rstd, c}, n, c, alloc, stream);
  column_sum_accumulate(db, MatrixTerm{dout, c}, n, c, alloc, stream);
}

}  // namespace strata::cuda
