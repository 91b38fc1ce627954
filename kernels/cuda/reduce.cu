// reduce.cu — deterministic full sums and the column-sum finisher (see reduce.cuh).
#include "kernels/cuda/reduce.cuh"

namespace strata::cuda {
namespace {

constexpr int kSumThreads = 256;
constexpr std::size_t kSumChunk = 1 << 14;  // elements per first-stage block

__global__ void sum_partials_kernel(double* partial, const float* x, std::size_t n, bool squares) {
  const std::size_t i0 = static_cast<std::size_t>(blockIdx.x) * kSumChunk;
  const std::size_t i1 = min(n, i0 + kSumChunk);
  float s = 0.0f;  // float within a 16K chunk (as the CPU backend), double across chunks
  for (std::size_t i = i0 + threadIdx.x; i < i1; i += kSumThreads) {
    const float v = x[i];
    s += squares ? v * v : v;
  }
  s = block_reduce(s, SumOp<float>{}, 0.0f);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_finish_kernel(float* out, const double* partial, std::size_t chunks) {
  double s = 0.0;
  for (std::size_t k = threadIdx.x; k < chunks; k += kSumThreads) s += partial[k];
  s = block_reduce(s, SumOp<double>{}, 0.0);
  if (threadIdx.x == 0) out[0] = static_cast<float>(s);
}

__global__ void column_finish_kernel(float* out, const float* partial, int chunks, int c) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= c) return;
  float s = 0.0f;
  for (int k = 0; k < chunks; ++k) s += partial[static_cast<std::size_t>(k) * c + col];
  out[col] += s;
}

}  // namespace

void column_finish(float* out, const float* partial, int chunks, int c, cudaStream_t stream) {
  column_finish_kernel<<<blocks_for(c, 256), 256, 0, stream>>>(out, partial, chunks, c);
  CUDA_CHECK_LAUNCH();
}

void sum(float* out, const float* x, std::size_t n, bool squares, DeviceAllocator& alloc, cudaStream_t stream) {
  const std::size_t chunks = n == 0 ? 1 : (n + kSumChunk - 1) / kSumChunk;
  STRATA_CHECK(chunks <= 0x7fffffffu, internal, "cuda sum: ", n, " elements is more than this kernel handles");
  Scratch<double> partial(alloc, chunks);
  sum_partials_kernel<<<static_cast<unsigned>(chunks), kSumThreads, 0, stream>>>(partial.get(), x, n, squares);
  CUDA_CHECK_LAUNCH();
  sum_finish_kernel<<<1, kSumThreads, 0, stream>>>(out, partial.get(), chunks);
  CUDA_CHECK_LAUNCH();
}

}  // namespace strata::cuda
