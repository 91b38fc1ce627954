// plan_memory.h — memory per rank (GPU) of a layout: weights, gradients, fp32 master weights and Adam
// moments (per ZeRO stage, as this code base implements them), activations (per recompute and
// sequence-parallel mode, times the micro-batches in flight under 1F1B or interleaved 1F1B), buffers
// and the framework reserve. The rank's parameter count and ZeRO-owned element count are inputs, so the
// planner passes closed forms (plan_model.h) and strata-train --dry-run the real partition's counts.
//
// States, bytes per parameter (N = the rank's parameters, S = the elements its ZeRO shard owns, about
// N/D; e = 2 for bf16 parameters, 4 for fp32; gradients accumulate in fp32):
//   stage 0: weights e*N, gradients 4N, master 4N (bf16 only), Adam 8N
//   stage 1: weights e*N, gradients 4N, master 4S (bf16 only), Adam 8S    (ZeRO-1, Rajbhandari et al. 2020)
//   stage 2: as stage 1, gradients 4N + 4S: the model still accumulates full local gradients during the
//            backward and the reduce-scatter leaves the reduced shard in a separate buffer
//            (parallel/data_parallel.h), so stage 2 saves traffic here, not memory
//   stage 3: weights e*(S + G) with G the gather buffers (parallel/zero3_params.h), gradients
//            4(G + G/D + S): per-range gradient buffers pooled like the gather buffers, their
//            reduce-scatter receive buffers (this rank's rows, about 1/D) and the shard
//            (parallel/zero3_grads.h); master 4S, Adam 8S
// Activations per block and micro-batch (b sequences of s tokens, hidden C, T tensor ranks, element e),
// from what GptModel keeps (src/gpt_model.h): the block input, ln1 and ln2 outputs and the residual
// after attention (4 elements per token, replicated over the tensor group, or split by T with sequence
// parallelism) plus qkv (3), the attention output (1), fc and GELU outputs (4 + 4), split by T:
//   none  b*s*C*e*(4/T_sp + 12/T) + fp32 statistics (LayerNorm mean/rstd 4, log-sum-exp NH/T per token)
//   selective  the attention output is recomputed: b*s*C*e*(4/T_sp + 11/T) + statistics
//   full  only the block input: b*s*C*e/T_sp
// This is Korthikanti et al. 2022 (arXiv 2205.05198, Table 2: 34 + 5*a*s/h bytes per token and C)
// without dropout masks and without the s^2 attention matrices (a flash-style attention core keeps
// only the log-sum-exp). In flight on pipeline rank r: 1F1B min(P - r, M) micro-batches of L/P blocks;
// interleaved 1F1B (Megatron-LM's schedule) min(2(P - r - 1) + (V - 1)P + 1, M*V) chunk-micro-batches of
// L/(P*V) blocks. Full recompute adds one block's full working set (the block being recomputed).
#pragma once

#include <cstdint>

#include "src/gpt_shape.h"
#include "src/plan_hardware.h"
#include "src/plan_model.h"

namespace strata {

struct RankCounts {
  int64_t params = 0;        // parameters this rank holds (its tensor slice of its chunks)
  int64_t owned = 0;         // elements of its ZeRO shard (= params without ZeRO)
  int64_t gather = 0;        // ZeRO-3 gather buffers (parallel/zero3_params.h): the embedding range, two
                             // block buffers (one when the rank has one block) and the head range
};

struct MemoryBreakdown {
  double weights = 0, grads = 0, master = 0, adam = 0, activations = 0, buffers = 0, reserve = 0;  // bytes
  int in_flight = 0;        // micro-batches (interleaved: chunk-micro-batches) whose activations are held
  int layers_per_slot = 0;  // blocks per in-flight unit
  double total() const { return weights + grads + master + adam + activations + buffers + reserve; }
};

// Closed-form counts of pipeline rank `stage` (one data rank; owned = ceil(params / D) with ZeRO).
RankCounts planned_counts(const GptShape& shape, const PlanLayout& layout, int stage);

// Micro-batches in flight on pipeline rank `stage` (see the top of this file).
int peak_in_flight(const PlanLayout& layout, int stage);

// Activation bytes of one block for one micro-batch.
double activation_bytes_per_block(const GptShape& shape, const PlanLayout& layout);

MemoryBreakdown rank_memory(const GptShape& shape, const PlanLayout& layout, const Hardware& hw, int stage,
                            const RankCounts& counts);

// The relative gap the planner states between its closed-form memory and the real partition's
// (strata-train --dry-run): ZeRO shards are whole rows, so a rank may own up to a row per tensor more.
constexpr double kMemoryMargin = 0.01;

}  // namespace strata
