// attention.cu — flash-attention style causal attention, fp32, and the bf16 entry points, which run the
// tensor-core kernels of attention_tc.cu or widen their operands for the fp32 kernels (see attention.cuh).
#include <cmath>
#include <type_traits>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/convert.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

// Shared-memory rows are HS + 1 floats: an odd stride puts the rows of a column in distinct banks.
struct Geometry {
  int t, nh, hs, ld;   // ld = hs + 1 (shared rows)
  std::size_t c;       // NH*HS
  float scale;
  __device__ std::size_t out_row(int b, int pos) const { return (std::size_t(b) * t + pos) * c; }
};

// dst[r][d] (stride g.ld) = src row (row0 + r) of a (B,T,width) tensor at column col0, times mul; zero
// for rows >= T.
template <int kTile>
__device__ void load_tile(float* dst, const float* src, std::size_t row_stride, std::size_t col0, int row0, int b,
                          const Geometry& g, float mul) {
  for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
    const int r = idx / g.hs, d = idx % g.hs;
    const int pos = row0 + r;
    dst[r * g.ld + d] = pos < g.t ? src[(std::size_t(b) * g.t + pos) * row_stride + col0 + d] * mul : 0.0f;
  }
}

// s[r][c] = q[r] . k[c] over HS (q already scaled), or -inf where key k0+c is after query q0+r or the
// query is past T.
template <int kTile>
__device__ void scores(float* s, const float* q, const float* k, int q0, int k0, const Geometry& g) {
  for (int e = threadIdx.x; e < kTile * kTile; e += kThreads) {
    const int r = e / kTile, c = e % kTile;
    float acc = -INFINITY;
    if (q0 + r < g.t && k0 + c <= q0 + r) {
      acc = 0.0f;
      for (int d = 0; d < g.hs; ++d) acc += q[r * g.ld + d] * k[c * g.ld + d];
    }
    s[r * (kTile + 1) + c] = acc;
  }
}

template <int kTile>
__global__ void attention_forward_kernel(float* out, float* lse, const float* qkv, Geometry g) {
  constexpr int kLanes = kThreads / kTile;  // threads per score row
  static_assert(kLanes <= kWarp && kTile % kLanes == 0, "row lanes must sit inside one warp");
  extern __shared__ float smem[];
  float* q = smem;
  float* k = q + kTile * g.ld;
  float* v = k + kTile * g.ld;
  float* o = v + kTile * g.ld;
  float* s = o + kTile * g.ld;
  float* row_m = s + kTile * (kTile + 1);
  float* row_l = row_m + kTile;
  float* row_alpha = row_l + kTile;

  const int q0 = blockIdx.x * kTile, h = blockIdx.y, b = blockIdx.z;
  const std::size_t stride = 3 * g.c;
  load_tile<kTile>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.scale);
  for (int idx = threadIdx.x; idx < kTile * g.ld; idx += kThreads) o[idx] = 0.0f;
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    row_m[r] = -INFINITY;
    row_l[r] = 0.0f;
  }
  const int last_key_tile = min(q0 + kTile - 1, g.t - 1) / kTile;
  for (int kt = 0; kt <= last_key_tile; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();  // the previous tile's readers of k, v, s are done
    load_tile<kTile>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
    load_tile<kTile>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
    __syncthreads();
    scores<kTile>(s, q, k, q0, k0, g);
    __syncthreads();
    {  // online softmax statistics: kLanes consecutive lanes per row
      const int r = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
      float* sr = s + r * (kTile + 1);
      float mx = -INFINITY;
      for (int c = lane; c < kTile; c += kLanes) mx = fmaxf(mx, sr[c]);
      for (int off = kLanes / 2; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = row_m[r];
      const float m_new = fmaxf(m_old, mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row past T: every p is 0
      float sum = 0.0f;
      for (int c = lane; c < kTile; c += kLanes) {
        const float p = expf(sr[c] - m_use);
        sr[c] = p;
        sum += p;
      }
      for (int off = kLanes / 2; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();
      if (lane == 0) {
        const float alpha = expf(m_old - m_use);
        row_l[r] = row_l[r] * alpha + sum;
        row_m[r] = m_new;
        row_alpha[r] = alpha;
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
      const int r = idx / g.hs, d = idx % g.hs;
      const float* pr = s + r * (kTile + 1);
      float acc = o[r * g.ld + d] * row_alpha[r];
      for (int c = 0; c < kTile; ++c) acc += pr[c] * v[c * g.ld + d];
      o[r * g.ld + d] = acc;
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
    const int r = idx / g.hs, d = idx % g.hs;
    if (q0 + r < g.t) out[g.out_row(b, q0 + r) + std::size_t(h) * g.hs + d] = o[r * g.ld + d] / row_l[r];
  }
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    if (q0 + r < g.t) lse[(std::size_t(b) * g.nh + h) * g.t + q0 + r] = row_m[r] + logf(row_l[r]);
  }
}

// delta (B,NH,T) = rowsum(dO * O) per head: one warp per (b, pos, h). O is stored as T (fp32, or bf16
// widened); dO is fp32.
template <typename T>
__global__ void attention_delta_kernel(float* delta, const float* dout, const T* out, int b_count, Geometry g) {
  const std::size_t row = (blockIdx.x * std::size_t(blockDim.x) + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= std::size_t(b_count) * g.t * g.nh) return;
  const int h = static_cast<int>(row % g.nh);
  const std::size_t bt = row / g.nh;  // b * T + pos
  const std::size_t base = bt * g.c + std::size_t(h) * g.hs;
  float s = 0.0f;
  for (int d = lane; d < g.hs; d += kWarp) s += dout[base + d] * to_float(out[base + d]);
  s = warp_reduce(s, SumOp<float>{});
  const std::size_t b = bt / g.t, pos = bt % g.t;
  if (lane == 0) delta[(b * g.nh + h) * g.t + pos] = s;
}

// p[r][c] = exp(S - lse) (0 where masked), ds[r][c] = p (dO_r . V_c - delta_r).
template <int kTile>
__device__ void probabilities_and_dscores(float* p, float* ds, const float* q, const float* k, const float* dov,
                                          const float* v, const float* row_lse, const float* row_delta, int q0,
                                          int k0, const Geometry& g) {
  for (int e = threadIdx.x; e < kTile * kTile; e += kThreads) {
    const int r = e / kTile, c = e % kTile;
    float pv = 0.0f, dsv = 0.0f;
    if (q0 + r < g.t && k0 + c <= q0 + r) {
      float sc = 0.0f, dp = 0.0f;
      for (int d = 0; d < g.hs; ++d) {
        sc += q[r * g.ld + d] * k[c * g.ld + d];
        dp += dov[r * g.ld + d] * v[c * g.ld + d];
      }
      pv = expf(sc - row_lse[r]);
      dsv = pv * (dp - row_delta[r]);
    }
    p[r * (kTile + 1) + c] = pv;
    ds[r * (kTile + 1) + c] = dsv;
  }
}

template <int kTile>
__device__ void load_row_stats(float* row_lse, float* row_delta, const float* lse, const float* delta, int q0, int b,
                               int h, const Geometry& g) {
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    const bool valid = q0 + r < g.t;
    const std::size_t i = (std::size_t(b) * g.nh + h) * g.t + q0 + r;
    row_lse[r] = valid ? lse[i] : 0.0f;
    row_delta[r] = valid ? delta[i] : 0.0f;
  }
}

// One block per key tile: dK, dV over the query tiles from the diagonal down.
template <int kTile>
__global__ void attention_dkdv_kernel(float* dqkv, const float* dout, const float* lse, const float* delta,
                                      const float* qkv, Geometry g) {
  extern __shared__ float smem[];
  float* k = smem;
  float* v = k + kTile * g.ld;
  float* q = v + kTile * g.ld;
  float* dov = q + kTile * g.ld;
  float* dk = dov + kTile * g.ld;
  float* dv = dk + kTile * g.ld;
  float* p = dv + kTile * g.ld;
  float* ds = p + kTile * (kTile + 1);
  float* row_lse = ds + kTile * (kTile + 1);
  float* row_delta = row_lse + kTile;

  const int k0 = blockIdx.x * kTile, h = blockIdx.y, b = blockIdx.z;
  const std::size_t stride = 3 * g.c;
  load_tile<kTile>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
  load_tile<kTile>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
  for (int idx = threadIdx.x; idx < kTile * g.ld; idx += kThreads) dk[idx] = dv[idx] = 0.0f;
  const int query_tiles = (g.t + kTile - 1) / kTile;
  for (int qt = blockIdx.x; qt < query_tiles; ++qt) {
    const int q0 = qt * kTile;
    __syncthreads();
    load_tile<kTile>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.scale);
    load_tile<kTile>(dov, dout, g.c, std::size_t(h) * g.hs, q0, b, g, 1.0f);
    load_row_stats<kTile>(row_lse, row_delta, lse, delta, q0, b, h, g);
    __syncthreads();
    probabilities_and_dscores<kTile>(p, ds, q, k, dov, v, row_lse, row_delta, q0, k0, g);
    __syncthreads();
    // dV_c += sum_r P_rc dO_r;  dK_c += sum_r dS_rc (scale Q_r)  (q holds scale * Q).
    for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
      const int c = idx / g.hs, d = idx % g.hs;
      float acc_v = dv[c * g.ld + d], acc_k = dk[c * g.ld + d];
      for (int r = 0; r < kTile; ++r) {
        acc_v += p[r * (kTile + 1) + c] * dov[r * g.ld + d];
        acc_k += ds[r * (kTile + 1) + c] * q[r * g.ld + d];
      }
      dv[c * g.ld + d] = acc_v;
      dk[c * g.ld + d] = acc_k;
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
    const int c = idx / g.hs, d = idx % g.hs;
    if (k0 + c >= g.t) continue;
    float* row = dqkv + (std::size_t(b) * g.t + k0 + c) * stride;
    row[g.c + std::size_t(h) * g.hs + d] = dk[c * g.ld + d];
    row[2 * g.c + std::size_t(h) * g.hs + d] = dv[c * g.ld + d];
  }
}

// One block per query tile: dQ over the key tiles up to the diagonal.
template <int kTile>
__global__ void attention_dq_kernel(float* dqkv, const float* dout, const float* lse, const float* delta,
                                    const float* qkv, Geometry g) {
  extern __shared__ float smem[];
  float* q = smem;
  float* dov = q + kTile * g.ld;
  float* k = dov + kTile * g.ld;
  float* v = k + kTile * g.ld;
  float* dq = v + kTile * g.ld;
  float* p = dq + kTile * g.ld;
  float* ds = p + kTile * (kTile + 1);
  float* row_lse = ds + kTile * (kTile + 1);
  float* row_delta = row_lse + kTile;

  const int q0 = blockIdx.x * kTile, h = blockIdx.y, b = blockIdx.z;
  const std::size_t stride = 3 * g.c;
  load_tile<kTile>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.scale);
  load_tile<kTile>(dov, dout, g.c, std::size_t(h) * g.hs, q0, b, g, 1.0f);
  load_row_stats<kTile>(row_lse, row_delta, lse, delta, q0, b, h, g);
  for (int idx = threadIdx.x; idx < kTile * g.ld; idx += kThreads) dq[idx] = 0.0f;
  const int last_key_tile = min(q0 + kTile - 1, g.t - 1) / kTile;
  for (int kt = 0; kt <= last_key_tile; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();
    load_tile<kTile>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
    load_tile<kTile>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
    __syncthreads();
    probabilities_and_dscores<kTile>(p, ds, q, k, dov, v, row_lse, row_delta, q0, k0, g);
    __syncthreads();
    // dQ_r += sum_c dS_rc K_c (times scale at the end).
    for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
      const int r = idx / g.hs, d = idx % g.hs;
      float acc = dq[r * g.ld + d];
      for (int c = 0; c < kTile; ++c) acc += ds[r * (kTile + 1) + c] * k[c * g.ld + d];
      dq[r * g.ld + d] = acc;
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kTile * g.hs; idx += kThreads) {
    const int r = idx / g.hs, d = idx % g.hs;
    if (q0 + r < g.t) dqkv[(std::size_t(b) * g.t + q0 + r) * stride + std::size_t(h) * g.hs + d] = dq[r * g.ld + d] * g.scale;
  }
}

// Shared bytes: forward 4 HS-tiles + scores + 3 row vectors; backward kernels 6 HS-tiles + 2 score tiles
// + 2 row vectors.
std::size_t forward_smem(int tile, int hs) {
  return sizeof(float) * (4u * tile * (hs + 1) + std::size_t(tile) * (tile + 1) + 3u * tile);
}
std::size_t backward_smem(int tile, int hs) {
  return sizeof(float) * (6u * tile * (hs + 1) + 2u * tile * (tile + 1) + 2u * tile);
}

std::size_t max_smem_optin() {
  int device = 0, bytes = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return static_cast<std::size_t>(bytes);
}

// The tile for this head size: 32 when the backward kernels fit, else 16.
int choose_tile(int hs) {
  const std::size_t limit = max_smem_optin();
  if (backward_smem(32, hs) <= limit) return 32;
  STRATA_CHECK(backward_smem(16, hs) <= limit, config, "cuda attention: head size ", hs, " needs ",
               backward_smem(16, hs), " bytes of shared memory per block, more than this GPU's ", limit,
               "; use more heads (smaller head size)");
  return 16;
}

template <typename Kernel>
void allow_smem(Kernel kernel, std::size_t bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

Geometry geometry(int t, int nh, int hs) {
  return Geometry{t, nh, hs, hs + 1, std::size_t(nh) * hs, 1.0f / std::sqrt(static_cast<float>(hs))};
}

template <int kTile>
void forward_with_tile(float* out, float* lse, const float* qkv, int b, const Geometry& g, cudaStream_t stream) {
  const std::size_t bytes = forward_smem(kTile, g.hs);
  allow_smem(attention_forward_kernel<kTile>, bytes);
  const dim3 grid((g.t + kTile - 1) / kTile, g.nh, b);
  attention_forward_kernel<kTile><<<grid, kThreads, bytes, stream>>>(out, lse, qkv, g);
  CUDA_CHECK_LAUNCH();
}

template <int kTile>
void backward_with_tile(float* dqkv, const float* dout, const float* lse, const float* delta, const float* qkv, int b,
                        const Geometry& g, cudaStream_t stream) {
  const std::size_t bytes = backward_smem(kTile, g.hs);
  allow_smem(attention_dkdv_kernel<kTile>, bytes);
  allow_smem(attention_dq_kernel<kTile>, bytes);
  const dim3 grid((g.t + kTile - 1) / kTile, g.nh, b);
  attention_dkdv_kernel<kTile><<<grid, kThreads, bytes, stream>>>(dqkv, dout, lse, delta, qkv, g);
  CUDA_CHECK_LAUNCH();
  attention_dq_kernel<kTile><<<grid, kThreads, bytes, stream>>>(dqkv, dout, lse, delta, qkv, g);
  CUDA_CHECK_LAUNCH();
}

void check_grid(int b, int t, int nh) {
  STRATA_CHECK(b <= 65535 && nh <= 65535, internal, "cuda attention: batch ", b, " or heads ", nh,
               " exceed the grid limit 65535");
}

// delta = rowsum(dO * O) (fp32), then the kernels of O's and qkv's storage T: the fp32 ones for float, the
// tensor-core ones (attention_tc.cu) for bf16.
template <typename T>
void attention_backward_any(float* dqkv, const float* dout, const T* out, const float* lse, const T* qkv, int b, int t,
                            int nh, int hs, DeviceAllocator& alloc, cudaStream_t stream) {
  if (b <= 0 || t <= 0 || nh <= 0 || hs <= 0) return;
  check_grid(b, t, nh);
  const Geometry g = geometry(t, nh, hs);
  const std::size_t rows = std::size_t(b) * t * nh;
  Scratch<float> delta(alloc, rows);
  attention_delta_kernel<<<blocks_for(rows * kWarp, 256), 256, 0, stream>>>(delta.get(), dout, out, b, g);
  CUDA_CHECK_LAUNCH();
  if constexpr (std::is_same_v<T, bf16>) attention_backward_tc(dqkv, dout, lse, delta.get(), qkv, b, t, nh, hs, stream);
  else if (choose_tile(hs) == 32) backward_with_tile<32>(dqkv, dout, lse, delta.get(), qkv, b, g, stream);
  else backward_with_tile<16>(dqkv, dout, lse, delta.get(), qkv, b, g, stream);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs, cudaStream_t stream) {
  if (b <= 0 || t <= 0 || nh <= 0 || hs <= 0) return;
  check_grid(b, t, nh);
  const Geometry g = geometry(t, nh, hs);
  if (choose_tile(hs) == 32) forward_with_tile<32>(out, lse, qkv, b, g, stream);
  else forward_with_tile<16>(out, lse, qkv, b, g, stream);
}

void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                        int t, int nh, int hs, DeviceAllocator& alloc, cudaStream_t stream) {
  attention_backward_any(dqkv, dout, out, lse, qkv, b, t, nh, hs, alloc, stream);
}

// Without tensor-core kernels for this GPU or head size, bf16 attention is the fp32 kernels on qkv and out
// widened (exactly) into fp32 scratch and dO rounded to bf16, as the CPU backend emulates it; the forward's
// fp32 out is rounded once into the bf16 one.
void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs,
                            DeviceAllocator& alloc, cudaStream_t stream) {
  if (b <= 0 || t <= 0 || nh <= 0 || hs <= 0) return;
  check_grid(b, t, nh);
  if (attention_tc_supported(hs)) return attention_forward_tc(out, lse, qkv, b, t, nh, hs, stream);
  const std::size_t n = std::size_t(b) * t * 3 * nh * hs, n_out = std::size_t(b) * t * nh * hs;
  Scratch<float> qkv32(alloc, n), out32(alloc, n_out);
  widen_bf16(qkv32.get(), qkv, n, stream);
  attention_forward(out32.get(), lse, qkv32.get(), b, t, nh, hs, stream);
  to_bf16(out, out32.get(), n_out, stream);
}

void attention_backward_bf16(float* dqkv, const float* dout, const bf16* out, const float* lse, const bf16* qkv,
                             int b, int t, int nh, int hs, DeviceAllocator& alloc, cudaStream_t stream) {
  if (b <= 0 || t <= 0 || nh <= 0 || hs <= 0) return;
  if (attention_tc_supported(hs)) return attention_backward_any(dqkv, dout, out, lse, qkv, b, t, nh, hs, alloc, stream);
  const std::size_t n = std::size_t(b) * t * 3 * nh * hs, n_out = std::size_t(b) * t * nh * hs;
  Scratch<float> qkv32(alloc, n), out32(alloc, n_out), dout16(alloc, n_out);
  widen_bf16(qkv32.get(), qkv, n, stream);
  widen_bf16(out32.get(), out, n_out, stream);
  round_to_bf16(dout16.get(), dout, n_out, stream);
  attention_backward(dqkv, dout16.get(), out32.get(), lse, qkv32.get(), b, t, nh, hs, alloc, stream);
}

}  // namespace strata::cuda
