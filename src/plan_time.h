// plan_time.h — the planner's time model of one training step, and everything it reports for a layout.
//
// Compute (per micro-batch, per pipeline rank): every GEMM is a roofline, max(2*M*K*N / (peak *
// gemm_efficiency), e*(M*K + K*N + M*N) / HBM bandwidth); the attention core runs its unmasked FLOPs
// (4*b*s^2*C/T forward) at GEMM speed (a causal flash kernel executes half of them at roughly half the
// efficiency); LayerNorm, GELU, bias and residual passes are memory-bound (bytes / HBM bandwidth).
// Backward costs twice the forward; recompute adds the forward again (full) or the attention core
// (selective) to the backward.
// Communication is alpha-beta on the link a group runs on (inside a node when the group's ranks fit in
// one node given parallel.order, else the inter-node NIC): a ring collective over n ranks takes
// steps*latency + bus_bytes / (bandwidth * link_efficiency), with steps 2(n-1) for an all-reduce and
// n-1 for a reduce-scatter or all-gather, bus bytes as in parallel/communicator.h (nccl-tests).
// Tensor-parallel collectives (2 all-reduces forward and 2 backward per block, or with sequence
// parallelism all-gathers and reduce-scatters of the same bus volume; full recompute repeats the
// forward's) and pipeline sends sit on the critical path; the data-parallel gradient reduction
// overlaps the last micro-batch's backward (buckets per block, parallel/data_parallel.h) and the
// ZeRO parameter all-gather after the optimizer step does not; ZeRO-3's per-micro-batch gathers
// overlap compute (a micro-batch takes the longer of the two).
// Pipeline (Narayanan et al. 2021, arXiv 2104.04473): with c_r = forward + backward time of one
// micro-batch on pipeline rank r and V chunks per rank,
//   T_pipe = (M - 1) * max_r c_r + (1/V) * sum_r c_r + (1 - 1/V) * max_r c_r
// which is (M + (P - 1)/V) * c for equal stages: the bubble is (P - 1)/V micro-batch times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "src/gpt_shape.h"
#include "src/plan_hardware.h"
#include "src/plan_memory.h"
#include "src/plan_model.h"

namespace strata {

// Bytes one rank moves in a step on one group: payload as the communicator counts it (parallel/
// communicator.h), bus bytes on the links, and the seconds the model gives them.
struct GroupTraffic {
  double payload = 0, bus = 0, seconds = 0;
};

struct StageTime {
  double forward = 0, backward = 0;  // one micro-batch, all of the rank's chunks, communication included
  double tensor_comm = 0, p2p = 0;   // of which: tensor-parallel collectives, pipeline sends (fwd + bwd)
  double dp_reduce = 0, dp_exposed = 0, param_gather = 0, optimizer = 0;
  GroupTraffic tensor, pipeline, data, embedding;  // one rank of this pipeline stage, per step
};

struct StepPrediction {
  PlanLayout layout;
  GptShape shape;  // with tensor = layout.tensor (the padding)
  int64_t parameters = 0, parameters_unpadded = 0;
  double model_flops_per_token = 0, hardware_flops_per_token = 0;
  std::vector<StageTime> stages;
  std::vector<RankCounts> counts;
  std::vector<MemoryBreakdown> memory;  // per pipeline rank
  double pipeline_s = 0, bubble_s = 0, bubble_fraction = 0, ideal_bubble_fraction = 0;
  double dp_exposed_s = 0, tail_s = 0;  // exposed gradient reduction; everything after the pipeline
  double step_s = 0, tokens_per_s = 0, mfu = 0, hfu = 0, peak_tflops = 0;
  GroupTraffic tensor, pipeline, data, embedding;  // the busiest stage's rank, per step
  double max_memory = 0, capacity = 0;
  int max_memory_stage = 0;
  bool fits = false;
  double train_tokens = 0, days = 0, gpu_hours = 0;
};

// Seconds of one collective (alpha-beta, ring) of `payload` bytes over n ranks on a link.
double collective_seconds(CommOp op, double payload, int n, double gbps, double latency_us, double efficiency);

// The full prediction of `layout` (check_layout must have accepted it) on `hw` for `train_tokens`.
StepPrediction predict(const GptShape& shape, const PlanLayout& layout, const Hardware& hw, double train_tokens);

}  // namespace strata
