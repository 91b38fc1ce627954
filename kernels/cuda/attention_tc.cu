// attention_tc.cu — causal attention on tensor cores for train.precision=bf16 (see attention.cuh).
//
// The flash-attention-2 scheme with WMMA bf16 16x16x16 products and fp32 accumulation:
//  - A block has 8 warps and owns 128 rows (queries in forward and dQ, keys in dK/dV); each warp owns 16
//    of them. The other side streams through shared memory 64 rows at a time, so each streamed tile is
//    read from global memory once per 128 owned rows (one block of 256 threads per SM: ~175 KB of shared
//    memory at HS 128). Tiles are bf16 in shared memory: q, k and v are bf16 in global memory (the model's
//    bf16 qkv) and are copied as they are, with 16-byte vector loads (8 values) when HS % 8 == 0 and the
//    pointer is 16-byte aligned, else one value at a time; dO is fp32 and is rounded as it is loaded
//    (16-byte loads of 4 values when HS % 4 == 0 and aligned; kernels/bf16.h, ties to even). The head
//    dimension is zero-padded to D = 16, 32, 64 or 128 (head sizes above 128 take the fp32 kernels).
//    Registers (ptxas, 256 threads per block allow 255): an 8-byte bf16 load path was tried and dropped, it
//    raised register use (dQ at HS 64: 211 against 128 on sm_90) and spills.
//  - Q is kept unscaled (the stored bf16 q itself, as the CPU emulation widens it): the fp32 products
//    Q K^T are multiplied by 1/sqrt(HS) before the softmax, and dQ, dK by it at the end. The forward's
//    output O / l is rounded once to bf16 as it is written; lse and dQ, dK, dV are fp32.
//  - Scores, probabilities and the softmax statistics are fp32; P and dS are rounded to bf16 where they
//    enter a product, as in every bf16 flash attention. All accumulators (O, dK, dV, dQ) stay in WMMA
//    fragments in registers. The forward rescales lazily: a row's reference max moves only when a tile
//    raises it by more than kRescaleSlack, and only then does O go through shared memory to be rescaled
//    per row (the fragments' element-to-row map is unspecified).
//  - A warp turns its 16 x 64 fp32 scores into bf16 probabilities in place: each lane first reads its
//    half row into registers, then (after __syncwarp) writes the bf16 values over the same bytes. The
//    bf16 view of a score row has leading dimension 2 * kLds.
//  - Deterministic: every output element is written by one thread after a fixed sequence of products.
#include <cuda_bf16.h>
#include <mma.h>

#include <cmath>
#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/cuda_check.cuh"

namespace strata::cuda {
namespace {

namespace wmma = nvcuda::wmma;
using Bf = __nv_bfloat16;

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 16 * kWarps;  // rows a block owns
constexpr int kCols = 64;           // rows of the streamed side per step
constexpr int kLds = kCols + 4;     // fp32 score rows (floats)
constexpr int kLdp = 2 * kLds;      // the same rows seen as bf16
constexpr int kMaxHeadTiles = 8;    // head size <= 128
constexpr float kRescaleSlack = 8.0f;  // forward: how far a row's max may rise before O is rescaled

template <int kD> struct Dims {
  static constexpr int d = 16 * kD;   // padded head size
  static constexpr int ldh = d + 8;   // bf16 tile rows (elements)
  static constexpr int ldo = d + 4;   // fp32 accumulator rows (floats)
};

struct Geo {
  int t, nh, hs;
  std::size_t c;  // NH*HS
  float scale;
  int qkv_vec;    // values per load of the bf16 qkv: 8 (16-byte vectors) or 1
  int dout_vec;   // values per load of the fp32 dO: 4 (16-byte vectors) or 1
};

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, Bf, wmma::row_major>;
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 16, Bf, wmma::col_major>;  // B = X^T, X row-major
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, Bf, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

__device__ Bf to_bf(float x) { return __ushort_as_bfloat16(math::float_to_bf16(x).bits); }
__device__ Bf to_bf(bf16 x) { return __ushort_as_bfloat16(x.bits); }

// Two lanes share a score row: each takes 32 consecutive columns.
constexpr int kHalf = kCols / 2;

// The score s of query qpos and key kpos, or -inf where the key is after the query or the query is past T.
__device__ float masked(float s, int qpos, int kpos, int t) { return qpos < t && kpos <= qpos ? s : -INFINITY; }

// Two bf16 values in one word, the first at the lower address.
__device__ std::uint32_t pack(float lo, float hi) {
  return std::uint32_t(math::float_to_bf16(lo).bits) | (std::uint32_t(math::float_to_bf16(hi).bits) << 16);
}

// Columns c0.. of fp32 score row r, converted, written back as bf16 over the start of the same row's
// bytes (its bf16 view has leading dimension kLdp). Call after __syncwarp: the partner lane's bf16 half
// lands on floats this lane has read.
__device__ void write_packed(float* s, int r, int c0, const std::uint32_t (&packed)[kHalf / 2]) {
  std::uint32_t* row = reinterpret_cast<std::uint32_t*>(s + r * kLds) + c0 / 2;
#pragma unroll
  for (int j = 0; j < kHalf / 2; ++j) row[j] = packed[j];
}

// One vector load of kPer values of Src from global memory and its bf16 form in shared memory: fp32 quads
// are rounded (two packed words), bf16 groups are copied as they are.
template <typename Src, int kPer> struct VecLoad;
template <> struct VecLoad<float, 4> {
  using Load = float4;
  using Store = uint2;
  __device__ static Store to_smem(const Load& x) { return make_uint2(pack(x.x, x.y), pack(x.z, x.w)); }
};
template <> struct VecLoad<bf16, 8> {
  using Load = uint4;
  using Store = uint4;
  __device__ static Store to_smem(const Load& x) { return x; }
};

// dst[r][d] (bf16, row stride ldh) = src[b, row0 + r, col0 + d] of a (B,T,stride) tensor of Src, zero past T
// or past HS, kPer values per load (HS a multiple of kPer and the rows aligned to the load). A thread issues
// up to 8 loads before converting and storing any: the loads are in flight together instead of one latency
// each. Shared rows are 16-byte aligned (ldh * 2 bytes and the tile offsets are multiples of 16).
template <int kD, int kTileRows, int kPer, typename Src>
__device__ void load_tile_vec(Bf* dst, const Src* src, std::size_t stride, std::size_t col0, int row0, int b,
                              const Geo& g) {
  using V = VecLoad<Src, kPer>;
  constexpr int D = Dims<kD>::d, ld = Dims<kD>::ldh;
  constexpr int kPerRow = D / kPer, kTotal = kTileRows * kPerRow;
  constexpr int kIters = (kTotal + kThreads - 1) / kThreads, kBatch = kIters < 8 ? kIters : 8;
  constexpr bool kWhole = kTotal % kThreads == 0;  // every thread has kIters loads: no bound check
  static_assert(D % kPer == 0 && kIters % kBatch == 0, "whole vectors per row, whole batches per thread");
#pragma unroll
  for (int i0 = 0; i0 < kIters; i0 += kBatch) {
    typename V::Load x[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int idx = threadIdx.x + (i0 + i) * kThreads, r = idx / kPerRow, d = (idx % kPerRow) * kPer;
      const int pos = row0 + r;
      x[i] = (kWhole || idx < kTotal) && pos < g.t && d < g.hs
                 ? *reinterpret_cast<const typename V::Load*>(src + (std::size_t(b) * g.t + pos) * stride + col0 + d)
                 : typename V::Load{};
    }
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int idx = threadIdx.x + (i0 + i) * kThreads, r = idx / kPerRow, d = (idx % kPerRow) * kPer;
      if (kWhole || idx < kTotal) *reinterpret_cast<typename V::Store*>(dst + r * ld + d) = V::to_smem(x[i]);
    }
  }
}

// The same for any HS and alignment: 16-byte vector loads (8 bf16 or 4 fp32 values) where Geo::qkv_vec or
// dout_vec (`vec`) allows, else one value at a time (HS % 8 != 0 is rare for bf16; see the top).
template <int kD, int kTileRows, typename Src>
__device__ void load_tile(Bf* dst, const Src* src, std::size_t stride, std::size_t col0, int row0, int b, const Geo& g,
                          int vec) {
  constexpr int kPer = 16 / sizeof(Src);
  if (vec == kPer) return load_tile_vec<kD, kTileRows, kPer>(dst, src, stride, col0, row0, b, g);
  constexpr int D = Dims<kD>::d, ld = Dims<kD>::ldh;
  for (int idx = threadIdx.x; idx < kTileRows * D; idx += kThreads) {
    const int r = idx / D, d = idx % D, pos = row0 + r;
    Bf x = to_bf(0.0f);
    if (pos < g.t && d < g.hs) x = to_bf(src[(std::size_t(b) * g.t + pos) * stride + col0 + d]);
    dst[r * ld + d] = x;
  }
}

// s(16 x 64, fp32, ld kLds) = A . b(64 rows, ld ldh)^T over the padded head size, A the 16 rows given as
// fragments or in shared memory (ld ldh).
template <int kD>
__device__ void scores_16x64(float* s, const FragA (&a)[kD], const Bf* b) {
  constexpr int ld = Dims<kD>::ldh;
#pragma unroll
  for (int j = 0; j < kCols / 16; ++j) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < kD; ++kk) {
      FragBt fb;
      wmma::load_matrix_sync(fb, b + j * 16 * ld + kk * 16, ld);
      wmma::mma_sync(acc, a[kk], fb, acc);
    }
    wmma::store_matrix_sync(s + j * 16, acc, kLds, wmma::mem_row_major);
  }
}

template <int kD>
__device__ void scores_16x64(float* s, const Bf* a, const Bf* b) {
  FragA fa[kD];
#pragma unroll
  for (int kk = 0; kk < kD; ++kk) wmma::load_matrix_sync(fa[kk], a + kk * 16, Dims<kD>::ldh);
  scores_16x64<kD>(s, fa, b);
}

// acc[n] += p(16 x 64, bf16, ld kLdp) . x(64 rows, ld ldh) for the head tiles n.
template <int kD>
__device__ void accumulate_16xd(FragC (&acc)[kD], const Bf* p, const Bf* x) {
  constexpr int ld = Dims<kD>::ldh;
#pragma unroll
  for (int kk = 0; kk < kCols / 16; ++kk) {
    FragA fa;
    wmma::load_matrix_sync(fa, p + kk * 16, kLdp);
#pragma unroll
    for (int n = 0; n < kD; ++n) {
      FragB fb;
      wmma::load_matrix_sync(fb, x + kk * 16 * ld + n * 16, ld);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Forward: block = kRows queries of one (batch, head); keys stream kCols at a time up to the diagonal.
template <int kD>
__global__ void __launch_bounds__(kThreads) forward_kernel(bf16* out, float* lse, const bf16* qkv, Geo g) {
#if __CUDA_ARCH__ >= 800
  using Dm = Dims<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  Bf* q = reinterpret_cast<Bf*>(smem);
  Bf* k = q + kRows * Dm::ldh;
  Bf* v = k + kCols * Dm::ldh;
  float* s = reinterpret_cast<float*>(v + kCols * Dm::ldh);
  float* o = s + kRows * kLds;
  float* row_m = o + kRows * Dm::ldo;
  float* row_l = row_m + kRows;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q0 = (gridDim.z - 1 - blockIdx.z) * kRows, h = blockIdx.x, b = blockIdx.y;  // heaviest tiles first
  const std::size_t stride = 3 * g.c;
  load_tile<kD, kRows>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.qkv_vec);
  for (int r = threadIdx.x; r < kRows; r += kThreads) row_m[r] = -INFINITY, row_l[r] = 0.0f;

  __syncthreads();
  FragA qf[kD];  // this warp's 16 query rows, kept in registers for every key tile
#pragma unroll
  for (int kk = 0; kk < kD; ++kk) wmma::load_matrix_sync(qf[kk], q + warp * 16 * Dm::ldh + kk * 16, Dm::ldh);
  FragC acc[kD];  // this warp's 16 rows of O, in registers across the key tiles
#pragma unroll
  for (int n = 0; n < kD; ++n) wmma::fill_fragment(acc[n], 0.0f);
  const int r = warp * 16 + lane / 2, c0 = (lane % 2) * kHalf, qpos = q0 + r;
  float* sw = s + warp * 16 * kLds;
  float* ow = o + warp * 16 * Dm::ldo;
  const int key_tiles = min(q0 + kRows - 1, g.t - 1) / kCols + 1;
  for (int kt = 0; kt < key_tiles; ++kt) {
    const int k0 = kt * kCols;
    __syncthreads();  // every warp is done with the previous k, v
    load_tile<kD, kCols>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
    load_tile<kD, kCols>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
    __syncthreads();
    scores_16x64<kD>(sw, qf, k);
    __syncwarp();
    // Online softmax of row r over this lane's 32 columns (the partner lane has the other 32), with lazy
    // rescaling: the reference max m moves only when the tile's max exceeds it by more than kRescaleSlack
    // (probabilities up to e^8 are exact enough in fp32 and bf16 alike), so O, held in fragments whose
    // element-to-row map is unspecified, is rescaled through shared memory only on those rare tiles.
    const float* sr = s + r * kLds + c0;
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < kHalf; ++j) mx = fmaxf(mx, masked(sr[j] * g.scale, qpos, k0 + c0 + j, g.t));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_old = row_m[r];
    const bool move = m_old == -INFINITY || mx > m_old + kRescaleSlack;
    const float m_new = move ? fmaxf(m_old, mx) : m_old;
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row past T: every p is 0
    float sum = 0.0f;
    std::uint32_t packed[kHalf / 2];
#pragma unroll
    for (int j = 0; j < kHalf; j += 2) {
      const float p0 = expf(masked(sr[j] * g.scale, qpos, k0 + c0 + j, g.t) - m_use);
      const float p1 = expf(masked(sr[j + 1] * g.scale, qpos, k0 + c0 + j + 1, g.t) - m_use);
      sum += p0 + p1;
      packed[j / 2] = pack(p0, p1);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float alpha = expf(m_old - m_use);  // 1 where m stays, 0 on a row's first tile
    __syncwarp();  // every lane has read its scores: overwrite them with bf16 probabilities
    write_packed(s, r, c0, packed);
    if (lane % 2 == 0) row_l[r] = row_l[r] * alpha + sum, row_m[r] = m_new;
    if (kt > 0 && __any_sync(0xffffffffu, move)) {  // O *= alpha per row, through shared memory
#pragma unroll
      for (int n = 0; n < kD; ++n) wmma::store_matrix_sync(ow + n * 16, acc[n], Dm::ldo, wmma::mem_row_major);
      __syncwarp();
      for (int d = (lane % 2) * (Dm::d / 2); d < (lane % 2 + 1) * (Dm::d / 2); ++d) o[r * Dm::ldo + d] *= alpha;
      __syncwarp();
#pragma unroll
      for (int n = 0; n < kD; ++n) wmma::load_matrix_sync(acc[n], ow + n * 16, Dm::ldo, wmma::mem_row_major);
    }
    __syncwarp();
    accumulate_16xd<kD>(acc, reinterpret_cast<const Bf*>(sw), v);
  }
#pragma unroll
  for (int n = 0; n < kD; ++n) wmma::store_matrix_sync(ow + n * 16, acc[n], Dm::ldo, wmma::mem_row_major);
  __syncthreads();
  for (int idx = threadIdx.x; idx < kRows * g.hs; idx += kThreads) {
    const int rr = idx / g.hs, d = idx % g.hs;
    if (q0 + rr < g.t)
      out[(std::size_t(b) * g.t + q0 + rr) * g.c + std::size_t(h) * g.hs + d] = math::float_to_bf16(o[rr * Dm::ldo + d] / row_l[rr]);
  }
  for (int rr = threadIdx.x; rr < kRows; rr += kThreads)
    if (q0 + rr < g.t) lse[(std::size_t(b) * g.nh + h) * g.t + q0 + rr] = row_m[rr] + logf(row_l[rr]);
#endif
}

// ---------------------------------------------------------------------------------------------------------
// Backward. P = exp(scale S - lse) and dS = P (dP - delta) from the products S = Q K^T and dP = dO V^T of
// one 16 x 64 patch: `s` and `dp` are fp32 rows (ld kLds) of the warp; writes bf16 P over s and bf16 dS over
// dp. (row_is_query: the warp's rows are queries and columns keys, else the transpose.)
__device__ void probabilities_and_dscores(float* s, float* dp, int r, int c0, int row_pos, int col0_pos,
                                          bool row_is_query, const float* stat_lse, const float* stat_delta,
                                          const Geo& g) {
  std::uint32_t p16[kHalf / 2], ds16[kHalf / 2];
#pragma unroll
  for (int j = 0; j < kHalf; j += 2) {
    float pv[2], dsv[2];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int col_pos = col0_pos + c0 + j + e;
      const int qpos = row_is_query ? row_pos : col_pos, kpos = row_is_query ? col_pos : row_pos;
      const int qi = row_is_query ? r : c0 + j + e;  // index into the query statistics
      const bool valid = qpos < g.t && kpos <= qpos;
      pv[e] = valid ? expf(s[r * kLds + c0 + j + e] * g.scale - stat_lse[qi]) : 0.0f;
      dsv[e] = pv[e] * (dp[r * kLds + c0 + j + e] - stat_delta[qi]);
    }
    p16[j / 2] = pack(pv[0], pv[1]);
    ds16[j / 2] = pack(dsv[0], dsv[1]);
  }
  __syncwarp();
  write_packed(s, r, c0, p16);
  write_packed(dp, r, c0, ds16);
  __syncwarp();
}

// lse and delta of kQueries queries from q0 (0 past T).
template <int kQueries>
__device__ void load_query_stats(float* stat_lse, float* stat_delta, const float* lse, const float* delta, int q0,
                                 int b, int h, const Geo& g) {
  for (int i = threadIdx.x; i < kQueries; i += kThreads) {
    const bool valid = q0 + i < g.t;
    const std::size_t at = (std::size_t(b) * g.nh + h) * g.t + q0 + i;
    stat_lse[i] = valid ? lse[at] : 0.0f;
    stat_delta[i] = valid ? delta[at] : 0.0f;
  }
}

// Writes acc (the warp's 16 rows x D, times mul) to column col0 of rows row0.. of the (B,T,3C) dqkv, through
// the staging rows (fp32, ld ldo) of the warp.
template <int kD>
__device__ void store_rows(float* dqkv, FragC (&acc)[kD], float* staging, std::size_t col0, int row0, int b,
                           const Geo& g, float mul) {
  using Dm = Dims<kD>;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* sw = staging + warp * 16 * Dm::ldo;
#pragma unroll
  for (int n = 0; n < kD; ++n) wmma::store_matrix_sync(sw + n * 16, acc[n], Dm::ldo, wmma::mem_row_major);
  __syncwarp();
  for (int idx = lane; idx < 16 * g.hs; idx += 32) {
    const int rr = idx / g.hs, d = idx % g.hs, pos = row0 + warp * 16 + rr;
    if (pos < g.t) dqkv[(std::size_t(b) * g.t + pos) * 3 * g.c + col0 + d] = sw[rr * Dm::ldo + d] * mul;
  }
  __syncwarp();
}

// dK, dV: block = kRows keys; queries stream kCols at a time from the diagonal to T.
template <int kD>
__global__ void __launch_bounds__(kThreads) dkdv_kernel(float* dqkv, const float* dout, const float* lse,
                                                        const float* delta, const bf16* qkv, Geo g) {
#if __CUDA_ARCH__ >= 800
  using Dm = Dims<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  Bf* k = reinterpret_cast<Bf*>(smem);
  Bf* v = k + kRows * Dm::ldh;
  Bf* q = v + kRows * Dm::ldh;
  Bf* dov = q + kCols * Dm::ldh;
  float* s = reinterpret_cast<float*>(dov + kCols * Dm::ldh);  // S^T, then P^T (bf16)
  float* dp = s + kRows * kLds;                                 // dP^T, then dS^T (bf16)
  float* stat_lse = dp + kRows * kLds;
  float* stat_delta = stat_lse + kCols;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int k0 = blockIdx.z * kRows, h = blockIdx.x, b = blockIdx.y;  // heaviest tiles first
  const std::size_t stride = 3 * g.c;
  load_tile<kD, kRows>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
  load_tile<kD, kRows>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
  FragC dk[kD], dv[kD];
#pragma unroll
  for (int n = 0; n < kD; ++n) wmma::fill_fragment(dk[n], 0.0f), wmma::fill_fragment(dv[n], 0.0f);
  const int r = warp * 16 + lane / 2, c0 = (lane % 2) * kHalf;
  float* sw = s + warp * 16 * kLds;
  float* dpw = dp + warp * 16 * kLds;
  const int query_tiles = (g.t + kCols - 1) / kCols;
  for (int qt = k0 / kCols; qt < query_tiles; ++qt) {
    const int q0 = qt * kCols;
    __syncthreads();
    load_tile<kD, kCols>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.qkv_vec);
    load_tile<kD, kCols>(dov, dout, g.c, std::size_t(h) * g.hs, q0, b, g, g.dout_vec);
    load_query_stats<kCols>(stat_lse, stat_delta, lse, delta, q0, b, h, g);
    __syncthreads();
    scores_16x64<kD>(sw, k + warp * 16 * Dm::ldh, q);     // S^T = K Q^T
    scores_16x64<kD>(dpw, v + warp * 16 * Dm::ldh, dov);  // dP^T = V dO^T
    __syncwarp();
    probabilities_and_dscores(s, dp, r, c0, k0 + r, q0, false, stat_lse, stat_delta, g);
    accumulate_16xd<kD>(dv, reinterpret_cast<const Bf*>(sw), dov);  // dV += P^T dO
    accumulate_16xd<kD>(dk, reinterpret_cast<const Bf*>(dpw), q);   // dK += dS^T Q (times scale at the end)
  }
  __syncthreads();  // s and dp become the staging rows (kRows x ldo floats fit in 2 x kRows x kLds)
  store_rows<kD>(dqkv, dk, s, g.c + std::size_t(h) * g.hs, k0, b, g, g.scale);
  store_rows<kD>(dqkv, dv, s, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, 1.0f);
#endif
}

// dQ: block = kRows queries; keys stream kCols at a time up to the diagonal.
template <int kD>
__global__ void __launch_bounds__(kThreads) dq_kernel(float* dqkv, const float* dout, const float* lse,
                                                      const float* delta, const bf16* qkv, Geo g) {
#if __CUDA_ARCH__ >= 800
  using Dm = Dims<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  Bf* q = reinterpret_cast<Bf*>(smem);
  Bf* dov = q + kRows * Dm::ldh;
  Bf* k = dov + kRows * Dm::ldh;
  Bf* v = k + kCols * Dm::ldh;
  float* s = reinterpret_cast<float*>(v + kCols * Dm::ldh);  // S, then P (bf16)
  float* dp = s + kRows * kLds;                               // dP, then dS (bf16)
  float* stat_lse = dp + kRows * kLds;
  float* stat_delta = stat_lse + kRows;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q0 = (gridDim.z - 1 - blockIdx.z) * kRows, h = blockIdx.x, b = blockIdx.y;  // heaviest tiles first
  const std::size_t stride = 3 * g.c;
  load_tile<kD, kRows>(q, qkv, stride, std::size_t(h) * g.hs, q0, b, g, g.qkv_vec);
  load_tile<kD, kRows>(dov, dout, g.c, std::size_t(h) * g.hs, q0, b, g, g.dout_vec);
  load_query_stats<kRows>(stat_lse, stat_delta, lse, delta, q0, b, h, g);
  FragC dq[kD];
#pragma unroll
  for (int n = 0; n < kD; ++n) wmma::fill_fragment(dq[n], 0.0f);
  const int r = warp * 16 + lane / 2, c0 = (lane % 2) * kHalf;
  float* sw = s + warp * 16 * kLds;
  float* dpw = dp + warp * 16 * kLds;
  const int key_tiles = min(q0 + kRows - 1, g.t - 1) / kCols + 1;
  for (int kt = 0; kt < key_tiles; ++kt) {
    const int k0 = kt * kCols;
    __syncthreads();
    load_tile<kD, kCols>(k, qkv, stride, g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
    load_tile<kD, kCols>(v, qkv, stride, 2 * g.c + std::size_t(h) * g.hs, k0, b, g, g.qkv_vec);
    __syncthreads();
    scores_16x64<kD>(sw, q + warp * 16 * Dm::ldh, k);     // S = Q K^T
    scores_16x64<kD>(dpw, dov + warp * 16 * Dm::ldh, v);  // dP = dO V^T
    __syncwarp();
    probabilities_and_dscores(s, dp, r, c0, q0 + r, k0, true, stat_lse, stat_delta, g);
    accumulate_16xd<kD>(dq, reinterpret_cast<const Bf*>(dpw), k);  // dQ += dS K (times scale at the end)
  }
  __syncthreads();
  store_rows<kD>(dqkv, dq, s, std::size_t(h) * g.hs, q0, b, g, g.scale);
#endif
}

// ---------------------------------------------------------------------------------------------------------
template <int kD> constexpr std::size_t forward_smem() {
  using Dm = Dims<kD>;
  return sizeof(Bf) * (kRows + 2u * kCols) * Dm::ldh + sizeof(float) * (kRows * kLds + kRows * Dm::ldo + 2u * kRows);
}
template <int kD> constexpr std::size_t backward_smem() {
  using Dm = Dims<kD>;
  static_assert(kRows * Dm::ldo <= 2 * kRows * kLds, "the staging rows fit in the score rows");
  return sizeof(Bf) * (2u * kRows + 2u * kCols) * Dm::ldh + sizeof(float) * (2u * kRows * kLds + 2u * kRows);
}

template <typename Kernel>
void allow_smem(Kernel kernel, std::size_t bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// Values per load of a tensor of `bytes`-byte values whose rows hold heads of hs values: a 16-byte vector
// when it divides hs and the pointer is 16-byte aligned (row, head and column offsets are multiples of hs,
// so every vector of the tile is then aligned), else 1.
int vector_width(const void* p, int hs, int bytes) {
  const int w = 16 / bytes;
  return hs % w == 0 && reinterpret_cast<std::uintptr_t>(p) % 16 == 0 ? w : 1;
}

Geo geo(int t, int nh, int hs, const bf16* qkv, const float* dout) {
  STRATA_CHECK((t + kRows - 1) / kRows <= 65535, internal, "cuda attention: seq_len ", t, " needs more than 65535 tiles of ",
               kRows, " rows (the grid's z limit)");
  return Geo{t,
             nh,
             hs,
             std::size_t(nh) * hs,
             1.0f / std::sqrt(static_cast<float>(hs)),
             vector_width(qkv, hs, sizeof(bf16)),
             dout != nullptr ? vector_width(dout, hs, sizeof(float)) : 1};
}

template <int kD>
void forward_tiles(bf16* out, float* lse, const bf16* qkv, int b, const Geo& g, cudaStream_t stream) {
  constexpr std::size_t bytes = forward_smem<kD>();
  allow_smem(forward_kernel<kD>, bytes);
  forward_kernel<kD><<<dim3(g.nh, b, (g.t + kRows - 1) / kRows), kThreads, bytes, stream>>>(out, lse, qkv, g);
  CUDA_CHECK_LAUNCH();
}

template <int kD>
void backward_tiles(float* dqkv, const float* dout, const float* lse, const float* delta, const bf16* qkv, int b,
                    const Geo& g, cudaStream_t stream) {
  constexpr std::size_t bytes = backward_smem<kD>();
  allow_smem(dkdv_kernel<kD>, bytes);
  allow_smem(dq_kernel<kD>, bytes);
  const dim3 grid(g.nh, b, (g.t + kRows - 1) / kRows);  // tiles slowest: every head's heaviest tiles start first
  dkdv_kernel<kD><<<grid, kThreads, bytes, stream>>>(dqkv, dout, lse, delta, qkv, g);
  CUDA_CHECK_LAUNCH();
  dq_kernel<kD><<<grid, kThreads, bytes, stream>>>(dqkv, dout, lse, delta, qkv, g);
  CUDA_CHECK_LAUNCH();
}

// 16 x (1, 2, 4, 8): the padded head size for hs.
int head_tiles(int hs) { return hs <= 16 ? 1 : hs <= 32 ? 2 : hs <= 64 ? 4 : 8; }

}  // namespace

bool attention_tc_supported(int hs) {
  int device = 0, major = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 8 && hs > 0 && hs <= 16 * kMaxHeadTiles;
}

void attention_forward_tc(bf16* out, float* lse, const bf16* qkv, int b, int t, int nh, int hs, cudaStream_t stream) {
  const Geo g = geo(t, nh, hs, qkv, nullptr);
  switch (head_tiles(hs)) {
    case 1: forward_tiles<1>(out, lse, qkv, b, g, stream); break;
    case 2: forward_tiles<2>(out, lse, qkv, b, g, stream); break;
    case 4: forward_tiles<4>(out, lse, qkv, b, g, stream); break;
    default: forward_tiles<8>(out, lse, qkv, b, g, stream); break;
  }
}

void attention_backward_tc(float* dqkv, const float* dout, const float* lse, const float* delta, const bf16* qkv,
                           int b, int t, int nh, int hs, cudaStream_t stream) {
  const Geo g = geo(t, nh, hs, qkv, dout);
  switch (head_tiles(hs)) {
    case 1: backward_tiles<1>(dqkv, dout, lse, delta, qkv, b, g, stream); break;
    case 2: backward_tiles<2>(dqkv, dout, lse, delta, qkv, b, g, stream); break;
    case 4: backward_tiles<4>(dqkv, dout, lse, delta, qkv, b, g, stream); break;
    default: backward_tiles<8>(dqkv, dout, lse, delta, qkv, b, g, stream); break;
  }
}

}  // namespace strata::cuda
