// adamw.cu — multi-tensor AdamW (see adamw.cuh).
#include <cmath>
#include <cstdint>

#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/pointwise_math.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kElementsPerBlock = kThreads * 8;
constexpr int kAdamWSegmentsPerLaunch = 48;  // 48 * 40 bytes + scalars: well under the 4 KiB argument limit

struct SegmentTable {
  std::uint64_t param[kAdamWSegmentsPerLaunch];  // element offsets
  std::uint64_t grad[kAdamWSegmentsPerLaunch];
  std::uint64_t state[kAdamWSegmentsPerLaunch];
  std::uint64_t count[kAdamWSegmentsPerLaunch];
  std::uint32_t first_block[kAdamWSegmentsPerLaunch + 1];  // prefix sums of blocks per segment
  float wd[kAdamWSegmentsPerLaunch];
  int size;
};

struct AdamWScalars {
  float lr, beta1, beta2, eps, grad_scale, bc1, bc2;
};

__global__ void adamw_kernel(float* params, const float* grads, float* m, float* v, const SegmentTable table,
                             const AdamWScalars hp) {
  // The segment of this block: the last one whose first block is <= blockIdx.x (binary search).
  int lo = 0, hi = table.size - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table.first_block[mid] <= blockIdx.x) lo = mid; else hi = mid - 1;
  }
  const int s = lo;
  const std::uint64_t begin = static_cast<std::uint64_t>(blockIdx.x - table.first_block[s]) * kElementsPerBlock;
  const std::uint64_t end = min(table.count[s], begin + kElementsPerBlock);
  float* p = params + table.param[s];
  const float* g = grads + table.grad[s];
  float* mm = m + table.state[s];
  float* vv = v + table.state[s];
  for (std::uint64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    float mi = mm[i], vi = vv[i];
    p[i] = math::adamw_step(p[i], g[i] * hp.grad_scale, mi, vi, hp.beta1, hp.beta2, hp.eps, hp.lr, table.wd[s],
                            hp.bc1, hp.bc2);
    mm[i] = mi;
    vv[i] = vi;
  }
}

}  // namespace

void adamw_update(float* params, const float* grads, float* m, float* v, std::span<const ParamSegment> segments,
                  const AdamWParams& hp, cudaStream_t stream) {
  const AdamWScalars s{hp.lr,
                       hp.beta1,
                       hp.beta2,
                       hp.eps,
                       hp.grad_scale,
                       static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta1), static_cast<double>(hp.step))),
                       static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta2), static_cast<double>(hp.step)))};
  SegmentTable table{};
  auto launch = [&] {
    if (table.size == 0) return;
    const std::uint32_t blocks = table.first_block[table.size];
    if (blocks > 0) {
      adamw_kernel<<<blocks, kThreads, 0, stream>>>(params, grads, m, v, table, s);
      CUDA_CHECK_LAUNCH();
    }
    table = SegmentTable{};
  };
  for (const ParamSegment& seg : segments) {
    if (seg.count == 0) continue;
    const std::uint64_t blocks = (seg.count + kElementsPerBlock - 1) / kElementsPerBlock;
    STRATA_CHECK(blocks < (1u << 30), internal, "cuda adamw: a segment of ", seg.count, " elements is too large");
    if (table.size == kAdamWSegmentsPerLaunch || table.first_block[table.size] + blocks >= (1u << 31)) launch();
    const int k = table.size;
    table.param[k] = seg.offset;
    table.grad[k] = seg.grad();
    table.state[k] = seg.state();
    table.count[k] = seg.count;
    table.wd[k] = seg.weight_decay ? hp.weight_decay : 0.0f;
    table.first_block[k + 1] = table.first_block[k] + static_cast<std::uint32_t>(blocks);
    table.size = k + 1;
  }
  launch();
}

}  // namespace strata::cuda
