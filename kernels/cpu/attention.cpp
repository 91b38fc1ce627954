// attention.cpp — CPU causal multi-head self-attention, flash-attention style: forward with an online
// softmax over key tiles, backward that recomputes the probabilities tile by tile from the saved lse.
//
// Rules:
//  - qkv (B,T,3*NH*HS) rows are [q of all heads | k of all heads | v of all heads]; out (B,T,NH*HS);
//    lse (B,NH,T) is the natural log-sum-exp of each query row's scaled scores, scale = 1/sqrt(HS).
//    Query i attends keys 0..i. dqkv is overwritten (=).
//  - No (T,T) matrix ever exists: queries and keys are processed in kTile x kTile tiles. Forward keeps a
//    running max m and sum l per query row and rescales the output accumulator by exp(m_old - m_new)
//    when m grows. Backward recomputes P = exp(S - lse), D_i = rowsum(dO_i * O_i), dS = P (dP - D).
//    Scratch is a handful of tiles per thread, O(kTile * max(kTile, HS)), whatever T is.
//  - OpenMP: forward parallelizes over (batch, head, query tile), backward over (batch, head) with one
//    thread owning all of a head's dQ/dK/dV. Deterministic: every output element is produced by exactly
//    one thread, with a summation order fixed by the loop structure, so results do not depend on the
//    thread count or the schedule (no atomics). No BLAS calls.
//  - Inner loops run over a contiguous dimension (queries of a transposed Q tile, keys of a transposed
//    K/V tile, or the head dimension) so they vectorize under -O3 -march=native without -ffast-math;
//    HS = 64 (GPT-2) and 128 are compiled as constants so that the products run register-blocked.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/error.h"

namespace strata::cpu {
namespace {

// Queries per query tile and keys per key tile. 64 x 64 floats = 16 KiB per tile: the working set of a
// forward tile pair stays in L1/L2, and the diagonal tile (half of it masked) wastes little work.
constexpr int kTile = 64;
constexpr std::size_t kAlign = 64;  // bytes; every scratch sub-buffer starts on a cache line
constexpr int kLineFloats = 16;     // floats per 64-byte cache line

struct Shape {
  int t = 0;
  int nh = 0;
  int hs = 0;
  std::ptrdiff_t c = 0;       // NH*HS: row width of out/dout, and of each q/k/v section of a qkv row
  std::ptrdiff_t ld_qkv = 0;  // 3*C: row stride of qkv/dqkv
  float scale = 0.f;          // 1/sqrt(HS)
};

// Floats to reserve for `count` floats so that the next sub-buffer stays cache-line aligned.
constexpr std::size_t padded(std::size_t count) {
  constexpr std::size_t per_line = kAlign / sizeof(float);
  return (count + per_line - 1) / per_line * per_line;
}

// The scratch of all threads of one op: a single aligned allocation made before the parallel region (so
// that a failure throws from the op rather than terminating inside OpenMP), one slice per thread.
class ThreadScratch {
 public:
  explicit ThreadScratch(std::size_t floats_per_thread)
      : per_thread_(padded(floats_per_thread)),
        base_(static_cast<float*>(operator new(bytes(), std::align_val_t{kAlign}))) {}
  ~ThreadScratch() { operator delete(base_, std::align_val_t{kAlign}); }
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  // Call inside the parallel region: a team never has more threads than omp_get_max_threads() outside.
  float* mine() const { return base_ + per_thread_ * omp_get_thread_num(); }

 private:
  std::size_t bytes() const { return per_thread_ * static_cast<std::size_t>(omp_get_max_threads()) * sizeof(float); }
  std::size_t per_thread_;
  float* base_;
};

// Hands out consecutive aligned sub-buffers of one thread's slice.
struct Carver {
  float* next;
  float* take(std::size_t count) {
    float* p = next;
    next += padded(count);
    return p;
  }
};

#if defined(__AVX__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define STRATA_ATTENTION_VECTOR_TRANSPOSE 1
#endif
#endif

#if defined(STRATA_ATTENTION_VECTOR_TRANSPOSE)
// dst[c*ldd + r] = src[r*lds + c] * mul for an 8 x 8 block, in registers: unpack pairs of rows, then
// pairs of pairs, then 128-bit halves (24 shuffles instead of 64 scalar strided stores).
inline void transpose_8x8(float* dst, std::ptrdiff_t ldd, const float* src, std::ptrdiff_t lds, float mul) {
  using Vec8 = float __attribute__((vector_size(32)));
  Vec8 r[8];
  for (int i = 0; i < 8; ++i) {
    std::memcpy(&r[i], src + i * lds, sizeof(Vec8));
    r[i] *= mul;
  }
  Vec8 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[2 * i + 1] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  Vec8 u[8];
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = __builtin_shufflevector(t[4 * i + 0], t[4 * i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * i + 1] = __builtin_shufflevector(t[4 * i + 0], t[4 * i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[4 * i + 2] = __builtin_shufflevector(t[4 * i + 1], t[4 * i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * i + 3] = __builtin_shufflevector(t[4 * i + 1], t[4 * i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    const Vec8 lo = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const Vec8 hi = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    std::memcpy(dst + i * ldd, &lo, sizeof(Vec8));
    std::memcpy(dst + (i + 4) * ldd, &hi, sizeof(Vec8));
  }
}
#endif

// dst[d*kTile + j] = src[j*ld + d] * mul for j < n, d < hs; columns j >= n are zeroed so that full-width
// score loops over a partial last tile read zeros instead of garbage. Whole 8 x 8 blocks are transposed
// in registers where the target allows, ragged edges element by element.
void transpose_tile(float* dst, const float* src, std::ptrdiff_t ld, int n, int hs, float mul) {
  int n_blocked = 0;
  int hs_blocked = 0;
#if defined(STRATA_ATTENTION_VECTOR_TRANSPOSE)
  n_blocked = n / 8 * 8;
  hs_blocked = hs / 8 * 8;
  for (int j = 0; j < n_blocked; j += 8) {
    for (int d = 0; d < hs_blocked; d += 8) transpose_8x8(dst + d * kTile + j, kTile, src + j * ld + d, ld, mul);
  }
#endif
  for (int j = 0; j < n; ++j) {
    const float* row = src + j * ld;
    for (int d = j < n_blocked ? hs_blocked : 0; d < hs; ++d) dst[d * kTile + j] = row[d] * mul;
  }
  if (n < kTile) {
    for (int d = 0; d < hs; ++d) std::fill(dst + d * kTile + n, dst + (d + 1) * kTile, 0.f);
  }
}

// ---- the one matrix micro-kernel ----
//
// Every product of the forward and backward is a sequence of rank-1 updates of a few rows:
//   y[r][0..width) (+)= sum_{j<n} coef[r*cs_r + j*cs_j] * x[j*ldx + 0..width)     for r < rows,
// with x rows contiguous (a transposed K/V tile, V/dO/Q rows, or the scaled K tile). The register-
// blocked version keeps kRows x kChunk accumulators in vector registers across the j loop, so each
// x vector load feeds kRows FMAs and each coefficient is one broadcast. GCC vector extensions make the
// blocking explicit: an auto-vectorized loop keeps a local accumulator array on the stack instead.

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
using Vec = float __attribute__((vector_size(kVecBytes)));
constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(float));
constexpr int kChunkVecs = 4;                   // vectors per accumulator row
constexpr int kChunk = kChunkVecs * kLanes;     // columns per register block
constexpr int kRows = kVecBytes == 64 ? 4 : 2;  // 16 (of 32) zmm, or 8 (of 16) ymm accumulators
static_assert(kTile % kChunk == 0, "tile width must be a whole number of register blocks");

inline Vec load_vec(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_vec(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

template <int kWidth, int kBlockRows>
inline void rows_update_blocked(float* y, std::ptrdiff_t ldy, const float* coef, std::ptrdiff_t cs_r,
                                std::ptrdiff_t cs_j, const float* x, std::ptrdiff_t ldx, int n, bool accumulate) {
  static_assert(kWidth % kChunk == 0);
  for (int c0 = 0; c0 < kWidth; c0 += kChunk) {
    Vec acc[kBlockRows][kChunkVecs];
    for (int r = 0; r < kBlockRows; ++r) {
      for (int v = 0; v < kChunkVecs; ++v) acc[r][v] = accumulate ? load_vec(y + r * ldy + c0 + v * kLanes) : Vec{};
    }
    for (int j = 0; j < n; ++j) {
      Vec xv[kChunkVecs];
      for (int v = 0; v < kChunkVecs; ++v) xv[v] = load_vec(x + j * ldx + c0 + v * kLanes);
      for (int r = 0; r < kBlockRows; ++r) {
        const float c = coef[r * cs_r + j * cs_j];
        for (int v = 0; v < kChunkVecs; ++v) acc[r][v] += c * xv[v];
      }
    }
    for (int r = 0; r < kBlockRows; ++r) {
      for (int v = 0; v < kChunkVecs; ++v) store_vec(y + r * ldy + c0 + v * kLanes, acc[r][v]);
    }
  }
}

// The update for `rows` <= kRows rows. kWidth > 0 is a compile-time width (a multiple of kChunk) and
// takes the register-blocked path; kWidth == 0 means a runtime width (odd head sizes), done with plain
// axpy loops over the contiguous width.
template <int kWidth>
void rows_update(int rows, int width, float* y, std::ptrdiff_t ldy, const float* coef, std::ptrdiff_t cs_r,
                 std::ptrdiff_t cs_j, const float* x, std::ptrdiff_t ldx, int n, bool accumulate) {
  if constexpr (kWidth > 0) {
    if (rows == kRows) {
      rows_update_blocked<kWidth, kRows>(y, ldy, coef, cs_r, cs_j, x, ldx, n, accumulate);
    } else {
      for (int r = 0; r < rows; ++r) {
        rows_update_blocked<kWidth, 1>(y + r * ldy, ldy, coef + r * cs_r, cs_r, cs_j, x, ldx, n, accumulate);
      }
    }
  } else {
    for (int r = 0; r < rows; ++r) {
      float* yr = y + r * ldy;
      if (!accumulate) std::fill(yr, yr + width, 0.f);
      for (int j = 0; j < n; ++j) {
        const float c = coef[r * cs_r + j * cs_j];
        const float* xj = x + j * ldx;
#pragma omp simd
        for (int d = 0; d < width; ++d) yr[d] += c * xj[d];
      }
    }
  }
}

// ---- forward ----

struct ForwardScratch {
  static std::size_t floats(int hs) {
    return padded(std::size_t{kTile} * hs) * 2 + padded(kTile * kTile) + padded(kTile) * 4;
  }
  ForwardScratch(Carver c, int hs)
      : qt(c.take(std::size_t{kTile} * hs)),
        acc(c.take(std::size_t{kTile} * hs)),
        st(c.take(kTile * kTile)),
        m(c.take(kTile)),
        l(c.take(kTile)),
        tile_max(c.take(kTile)),
        alpha(c.take(kTile)) {}
  float* qt;        // (HS, kTile) query tile, transposed and multiplied by scale; zero past the last row
  float* acc;       // (kTile, HS) unnormalized output rows of the query tile
  float* st;        // (kTile keys, kTile queries) scores, then probabilities, of the current tile pair
  float* m;         // (kTile) running max of each query's scores
  float* l;         // (kTile) running sum of exp(score - m)
  float* tile_max;  // (kTile) each query's max over the current key tile
  float* alpha;     // (kTile) exp(m_old - m_new): rescaling of what was accumulated so far
};

// One query tile [i0, i0+nq) of head h of batch row bi: out rows and lse entries.
//
// Scores are computed transposed, S^T = K (scale Q)^T, key rows by query columns: the query tile is
// transposed once and reused for every key tile (transposing each K tile instead would redo the
// scalar, strided transpose for every tile pair), and the online softmax then runs down the key rows
// with every update vectorized across the kTile queries.
template <int kHs>
void forward_query_tile(float* out, float* lse, const float* qkv, const Shape& sh, int bi, int h, int i0,
                        ForwardScratch& w) {
  const int hs = kHs > 0 ? kHs : sh.hs;
  const int nq = std::min(kTile, sh.t - i0);
  const std::ptrdiff_t ld = sh.ld_qkv;
  const float* q = qkv + (std::ptrdiff_t{bi} * sh.t + i0) * ld + std::ptrdiff_t{h} * hs;
  const float* k = qkv + std::ptrdiff_t{bi} * sh.t * ld + sh.c + std::ptrdiff_t{h} * hs;
  const float* v = k + sh.c;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  transpose_tile(w.qt, q, ld, nq, hs, sh.scale);
  // Key tiles are aligned with query tiles, so the last one (j0 == i0) is the diagonal tile, the only
  // one where the causal mask applies (query i keeps keys j <= i); every query has >= 1 key per tile.
  // Columns i >= nq of a partial tile are computed on zero queries and never written out.
  for (int j0 = 0; j0 <= i0; j0 += kTile) {
    const int nk = std::min(kTile, sh.t - j0);
    const bool diagonal = j0 == i0;
    for (int r0 = 0; r0 < nk; r0 += kRows) {
      rows_update<kTile>(std::min(kRows, nk - r0), kTile, w.st + r0 * kTile, kTile, k + (j0 + r0) * ld, ld, 1, w.qt,
                         kTile, hs, false);
    }
    std::fill(w.tile_max, w.tile_max + kTile, kNegInf);
    for (int j = 0; j < nk; ++j) {
      const float* sj = w.st + j * kTile;
#pragma omp simd
      for (int i = 0; i < kTile; ++i) {
        const float sji = diagonal && i < j ? kNegInf : sj[i];
        w.tile_max[i] = sji > w.tile_max[i] ? sji : w.tile_max[i];
      }
    }
    if (j0 == 0) {
      std::copy(w.tile_max, w.tile_max + kTile, w.m);
      std::fill(w.l, w.l + kTile, 0.f);
    } else {
#pragma omp simd
      for (int i = 0; i < kTile; ++i) {
        const float m_new = std::max(w.m[i], w.tile_max[i]);
        w.alpha[i] = fast_expf(w.m[i] - m_new);
        w.l[i] *= w.alpha[i];
        w.m[i] = m_new;
      }
    }
    // P^T, exactly 0 where masked, so PV can run over whole blocks of query rows.
    for (int j = 0; j < nk; ++j) {
      float* sj = w.st + j * kTile;
#pragma omp simd
      for (int i = 0; i < kTile; ++i) {
        const float e = fast_expf(sj[i] - w.m[i]);  // unconditional: a select vectorizes, a branch not
        const float p = diagonal && i < j ? 0.f : e;
        sj[i] = p;
        w.l[i] += p;
      }
    }
    if (j0 > 0) {
      for (int i = 0; i < nq; ++i) {
        const float a = w.alpha[i];
        if (a == 1.f) continue;
        float* ai = w.acc + std::ptrdiff_t{i} * hs;
#pragma omp simd
        for (int d = 0; d < hs; ++d) ai[d] *= a;
      }
    }
    // acc (+)= P V. A block of query rows needs the keys of its last row: on the diagonal, r0 + rows.
    for (int r0 = 0; r0 < nq; r0 += kRows) {
      const int rows = std::min(kRows, nq - r0);
      const int n = diagonal ? r0 + rows : nk;
      rows_update<kHs>(rows, hs, w.acc + std::ptrdiff_t{r0} * hs, hs, w.st + r0, 1, kTile, v + j0 * ld, ld, n, j0 > 0);
    }
  }

  float* out_tile = out + (std::ptrdiff_t{bi} * sh.t + i0) * sh.c + std::ptrdiff_t{h} * hs;
  float* lse_tile = lse + (std::ptrdiff_t{bi} * sh.nh + h) * sh.t + i0;
  for (int i = 0; i < nq; ++i) {
    const float inv_l = 1.f / w.l[i];
    const float* ai = w.acc + std::ptrdiff_t{i} * hs;
    float* oi = out_tile + i * sh.c;
#pragma omp simd
    for (int d = 0; d < hs; ++d) oi[d] = ai[d] * inv_l;
    lse_tile[i] = w.m[i] + std::log(w.l[i]);
  }
}

template <int kHs>
void forward_all(float* out, float* lse, const float* qkv, const Shape& sh, int b) {
  const int n_qtiles = (sh.t + kTile - 1) / kTile;
  const long n_tasks = long{b} * sh.nh * n_qtiles;
  const ThreadScratch scratch(ForwardScratch::floats(sh.hs));
#pragma omp parallel
  {
    ForwardScratch w(Carver{scratch.mine()}, sh.hs);
    // Tasks are independent (each writes its own out rows and lse entries). Later query tiles cost more
    // (more key tiles), so they are handed out first for a better dynamic balance.
#pragma omp for schedule(dynamic, 1)
    for (long task = 0; task < n_tasks; ++task) {
      const int qt = n_qtiles - 1 - static_cast<int>(task % n_qtiles);
      const long bh = task / n_qtiles;
      forward_query_tile<kHs>(out, lse, qkv, sh, static_cast<int>(bh / sh.nh), static_cast<int>(bh % sh.nh), qt * kTile,
                              w);
    }
  }
}

// ---- backward ----

struct BackwardScratch {
  static std::size_t floats(int hs) {
    return padded(std::size_t{kTile} * hs) * 5 + padded(kTile * kTile) * 2 + padded(kTile);
  }
  BackwardScratch(Carver c, int hs)
      : kt(c.take(std::size_t{kTile} * hs)),
        vt(c.take(std::size_t{kTile} * hs)),
        kr(c.take(std::size_t{kTile} * hs)),
        dk(c.take(std::size_t{kTile} * hs)),
        dv(c.take(std::size_t{kTile} * hs)),
        p(c.take(kTile * kTile)),
        ds(c.take(kTile * kTile)),
        dd(c.take(kTile)) {}
  float* kt;  // (HS, kTile) key tile transposed, times scale (scores S = q . kt)
  float* vt;  // (HS, kTile) value tile transposed (dP = dO . vt)
  float* kr;  // (kTile, HS) key tile rows times scale (dQ += dS kr)
  float* dk;  // (kTile, HS) dK of the key tile, unscaled: dK = scale * dS^T Q at the end
  float* dv;  // (kTile, HS) dV of the key tile
  float* p;   // (kTile, kTile) probabilities of the current tile pair (0 where masked)
  float* ds;  // (kTile, kTile) dP, then dS = P (dP - D)
  float* dd;  // (kTile) D_i = rowsum(dO_i * O_i) of the query tile
};

// All of dqkv for head h of batch row bi. Loop order is key tile outer, query tile inner (flash-attention
// 2): dK/dV of a key tile accumulate in scratch and are written once; dQ rows accumulate in dqkv in
// ascending key-tile order. One thread owns the whole head, which keeps every sum's order fixed; the
// price is parallelism limited to B*NH heads (96 for GPT-2 at B=8), ample for a CPU.
template <int kHs>
void backward_head(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv,
                   const Shape& sh, int bi, int h, BackwardScratch& w) {
  const int hs = kHs > 0 ? kHs : sh.hs;
  const std::ptrdiff_t ld = sh.ld_qkv;
  const std::ptrdiff_t head_col = std::ptrdiff_t{h} * hs;
  const float* q = qkv + std::ptrdiff_t{bi} * sh.t * ld + head_col;
  const float* k = q + sh.c;
  const float* v = k + sh.c;
  float* dq = dqkv + std::ptrdiff_t{bi} * sh.t * ld + head_col;
  float* dk = dq + sh.c;
  float* dv = dk + sh.c;
  const float* o = out + std::ptrdiff_t{bi} * sh.t * sh.c + head_col;
  const float* d_o = dout + std::ptrdiff_t{bi} * sh.t * sh.c + head_col;
  const float* lse_h = lse + (std::ptrdiff_t{bi} * sh.nh + h) * sh.t;

  for (int j0 = 0; j0 < sh.t; j0 += kTile) {
    const int nk = std::min(kTile, sh.t - j0);
    // Rows of a head are 4*HS bytes spread 12*C bytes apart, a stride the hardware prefetchers do not
    // follow: ask for this tile's dK/dV output lines now, so their misses overlap the tile's compute.
    for (int j = 0; j < nk; ++j) {
      for (int d = 0; d < hs; d += kLineFloats) {
        __builtin_prefetch(dk + (j0 + j) * ld + d, 1);
        __builtin_prefetch(dv + (j0 + j) * ld + d, 1);
      }
    }
    transpose_tile(w.kt, k + j0 * ld, ld, nk, hs, sh.scale);
    transpose_tile(w.vt, v + j0 * ld, ld, nk, hs, 1.f);
    for (int j = 0; j < nk; ++j) {
      const float* kj = k + (j0 + j) * ld;
      float* krj = w.kr + std::ptrdiff_t{j} * hs;
#pragma omp simd
      for (int d = 0; d < hs; ++d) krj[d] = kj[d] * sh.scale;
    }

    // The diagonal tile comes first (i0 == j0): it initializes dK/dV (accumulate = false).
    for (int i0 = j0; i0 < sh.t; i0 += kTile) {
      const int nq = std::min(kTile, sh.t - i0);
      const bool diagonal = i0 == j0;
      const float* q_tile = q + i0 * ld;
      const float* do_tile = d_o + i0 * sh.c;
      // D_i is recomputed for every tile pair (HS MACs per row, against ~5*kTile*HS in the products
      // below) rather than kept for the whole head, which would make scratch O(T).
      for (int i = 0; i < nq; ++i) {
        const float* doi = do_tile + i * sh.c;
        const float* oi = o + (i0 + i) * sh.c;
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int d = 0; d < hs; ++d) sum += doi[d] * oi[d];
        w.dd[i] = sum;
      }
      // S = Q (scale K)^T into p, dP = dO V^T into ds.
      for (int r0 = 0; r0 < nq; r0 += kRows) {
        const int rows = std::min(kRows, nq - r0);
        rows_update<kTile>(rows, kTile, w.p + r0 * kTile, kTile, q_tile + r0 * ld, ld, 1, w.kt, kTile, hs, false);
        rows_update<kTile>(rows, kTile, w.ds + r0 * kTile, kTile, do_tile + r0 * sh.c, sh.c, 1, w.vt, kTile, hs, false);
      }
      for (int i = 0; i < nq; ++i) {
        const int n_keys = diagonal ? i + 1 : nk;
        float* pi = w.p + i * kTile;
        float* dsi = w.ds + i * kTile;
        const float lse_i = lse_h[i0 + i];
        const float d_i = w.dd[i];
        // Masked and out-of-range columns become exactly 0 in both P and dS, so the products below can
        // run over whole blocks of rows/columns.
#pragma omp simd
        for (int j = 0; j < kTile; ++j) {
          const float e = fast_expf(pi[j] - lse_i);  // unconditional: a select vectorizes, a branch not
          const float pij = j < n_keys ? e : 0.f;
          pi[j] = pij;
          dsi[j] = pij * (dsi[j] - d_i);
        }
      }
      // dV_j (+)= sum_i P_ij dO_i and dK_j (+)= sum_i dS_ij Q_i over rows j of the key tile; on the
      // diagonal P_ij = 0 for i < j, so a block of key rows starts at query row r0.
      for (int r0 = 0; r0 < nk; r0 += kRows) {
        const int rows = std::min(kRows, nk - r0);
        const int i_begin = diagonal ? r0 : 0;
        rows_update<kHs>(rows, hs, w.dv + std::ptrdiff_t{r0} * hs, hs, w.p + i_begin * kTile + r0, 1, kTile,
                         do_tile + i_begin * sh.c, sh.c, nq - i_begin, !diagonal);
        rows_update<kHs>(rows, hs, w.dk + std::ptrdiff_t{r0} * hs, hs, w.ds + i_begin * kTile + r0, 1, kTile,
                         q_tile + i_begin * ld, ld, nq - i_begin, !diagonal);
      }
      // dQ_i (+)= sum_j dS_ij (scale K_j). Key tile 0 visits every query row first and initializes it.
      for (int r0 = 0; r0 < nq; r0 += kRows) {
        const int rows = std::min(kRows, nq - r0);
        const int n = diagonal ? r0 + rows : nk;
        rows_update<kHs>(rows, hs, dq + (i0 + r0) * ld, ld, w.ds + r0 * kTile, kTile, 1, w.kr, hs, n, j0 > 0);
      }
    }

    for (int j = 0; j < nk; ++j) {
      const float* dkj = w.dk + std::ptrdiff_t{j} * hs;
      const float* dvj = w.dv + std::ptrdiff_t{j} * hs;
      float* dk_row = dk + (j0 + j) * ld;
      float* dv_row = dv + (j0 + j) * ld;
#pragma omp simd
      for (int d = 0; d < hs; ++d) {
        dk_row[d] = dkj[d] * sh.scale;  // dK = scale * dS^T Q
        dv_row[d] = dvj[d];
      }
    }
  }
}

template <int kHs>
void backward_all(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, const Shape& sh,
                  int b) {
  const long n_heads = long{b} * sh.nh;
  const ThreadScratch scratch(BackwardScratch::floats(sh.hs));
#pragma omp parallel
  {
    BackwardScratch w(Carver{scratch.mine()}, sh.hs);
#pragma omp for schedule(dynamic, 1)
    for (long bh = 0; bh < n_heads; ++bh) {
      backward_head<kHs>(dqkv, dout, out, lse, qkv, sh, static_cast<int>(bh / sh.nh), static_cast<int>(bh % sh.nh), w);
    }
  }
}

Shape make_shape(int b, int t, int nh, int hs) {
  STRATA_CHECK(b > 0 && t > 0 && nh > 0 && hs > 0, internal, "attention: expected positive B, T, NH, HS, got B=", b,
               " T=", t, " NH=", nh, " HS=", hs);
  Shape sh;
  sh.t = t;
  sh.nh = nh;
  sh.hs = hs;
  sh.c = std::ptrdiff_t{nh} * hs;
  sh.ld_qkv = 3 * sh.c;
  sh.scale = 1.f / std::sqrt(static_cast<float>(hs));
  return sh;
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int b, int t, int nh, int hs) {
  const Shape sh = make_shape(b, t, nh, hs);
  // Head sizes compiled as constants take the register-blocked products; any other HS the runtime path.
  switch (hs) {
    case 64:
      forward_all<64>(out, lse, qkv, sh, b);
      break;
    case 128:
      forward_all<128>(out, lse, qkv, sh, b);
      break;
    default:
      forward_all<0>(out, lse, qkv, sh, b);
      break;
  }
}

void attention_backward(float* dqkv, const float* dout, const float* out, const float* lse, const float* qkv, int b,
                        int t, int nh, int hs) {
  const Shape sh = make_shape(b, t, nh, hs);
  switch (hs) {
    case 64:
      backward_all<64>(dqkv, dout, out, lse, qkv, sh, b);
      break;
    case 128:
      backward_all<128>(dqkv, dout, out, lse, qkv, sh, b);
      break;
    default:
      backward_all<0>(dqkv, dout, out, lse, qkv, sh, b);
      break;
  }
}

}  // namespace strata::cpu
