// pipeline_schedule.cpp — see pipeline_schedule.h.
#include "parallel/pipeline_schedule.h"

#include <algorithm>

#include "kernels/error.h"

namespace strata {
namespace {

void check_args(int stages, int stage, int micro_batches, int chunks) {
  STRATA_CHECK(stages >= 1 && stage >= 0 && stage < stages && micro_batches >= 1 && chunks >= 1, internal,
               "pipeline schedule: stage ", stage, " of ", stages, " stages with ", micro_batches, " micro-batches and ",
               chunks, " chunks (need 0 <= stage < stages, micro-batches >= 1, chunks >= 1)");
}

// Where rank `stage`'s chunk sits in the ring of P*V virtual stages (virtual stage chunk*P + stage), and
// its neighbours there: the previous virtual stage is on rank stage - 1 (rank P - 1 for stage 0), the
// next on rank stage + 1 (rank 0 for stage P - 1).
struct Ring {
  int stages, stage, chunks;
  bool first(int chunk) const { return chunk == 0 && stage == 0; }
  bool last(int chunk) const { return chunk == chunks - 1 && stage == stages - 1; }
  int prev() const { return (stage + stages - 1) % stages; }
  int next() const { return (stage + 1) % stages; }
};

void add_forward(std::vector<PipeAction>& out, const Ring& r, int chunk, int m) {
  if (!r.first(chunk)) out.push_back({PipeOp::recv_forward, m, r.prev(), chunk});
  out.push_back({PipeOp::forward, m, -1, chunk});
  if (!r.last(chunk)) out.push_back({PipeOp::send_forward, m, r.next(), chunk});
}

void add_backward(std::vector<PipeAction>& out, const Ring& r, int chunk, int m) {
  if (!r.last(chunk)) out.push_back({PipeOp::recv_backward, m, r.next(), chunk});
  out.push_back({PipeOp::backward, m, -1, chunk});
  if (!r.first(chunk)) out.push_back({PipeOp::send_backward, m, r.prev(), chunk});
}

}  // namespace

std::vector<PipeAction> pipeline_1f1b_schedule(int stages, int stage, int micro_batches) {
  check_args(stages, stage, micro_batches, 1);
  const Ring r{stages, stage, 1};
  const int warmup = std::min(stages - stage - 1, micro_batches);
  std::vector<PipeAction> out;
  for (int m = 0; m < warmup; ++m) add_forward(out, r, 0, m);
  for (int i = 0; i < micro_batches - warmup; ++i) {
    add_forward(out, r, 0, warmup + i);
    add_backward(out, r, 0, i);
  }
  for (int m = micro_batches - warmup; m < micro_batches; ++m) add_backward(out, r, 0, m);
  return out;
}

std::vector<PipeAction> pipeline_interleaved_schedule(int stages, int stage, int micro_batches, int chunks) {
  check_args(stages, stage, micro_batches, chunks);
  STRATA_CHECK(chunks >= 2 && micro_batches % stages == 0, internal, "interleaved pipeline schedule: ",
               micro_batches, " micro-batches over ", stages, " stages with ", chunks,
               " chunks (need chunks >= 2 and micro-batches a multiple of the stages)");
  const Ring r{stages, stage, chunks};
  const int group = stages * chunks;  // chunk-forwards per group of P micro-batches
  const int total = micro_batches * chunks;
  const int warmup = std::min((stages - stage - 1) * 2 + (chunks - 1) * stages, total);
  // The k-th chunk-forward (backward) of every rank: micro-batch and chunk.
  const auto micro_batch = [&](int k) { return (k / group) * stages + k % stages; };
  std::vector<PipeAction> out;
  const auto fwd = [&](int k) { add_forward(out, r, (k % group) / stages, micro_batch(k)); };
  const auto bwd = [&](int k) { add_backward(out, r, chunks - 1 - (k % group) / stages, micro_batch(k)); };
  for (int k = 0; k < warmup; ++k) fwd(k);
  for (int i = 0; i < total - warmup; ++i) {
    fwd(warmup + i);
    bwd(i);
  }
  for (int k = total - warmup; k < total; ++k) bwd(k);
  return out;
}

std::vector<PipeAction> pipeline_train_schedule(int stages, int stage, int micro_batches, int chunks) {
  return chunks == 1 ? pipeline_1f1b_schedule(stages, stage, micro_batches)
                     : pipeline_interleaved_schedule(stages, stage, micro_batches, chunks);
}

std::vector<PipeAction> pipeline_forward_schedule(int stages, int stage, int micro_batches, int chunks) {
  check_args(stages, stage, micro_batches, chunks);
  const Ring r{stages, stage, chunks};
  // Micro-batch m through chunk c waits only for (m, c) on the previous virtual stage: every rank walks
  // (m, c) in the same lexicographic order, so the waits follow that order and cannot form a cycle.
  std::vector<PipeAction> out;
  for (int m = 0; m < micro_batches; ++m)
    for (int c = 0; c < chunks; ++c) add_forward(out, r, c, m);
  return out;
}

int pipeline_peak_in_flight(const std::vector<PipeAction>& actions, int chunk) {
  const bool has_backward = std::any_of(actions.begin(), actions.end(),
                                        [](const PipeAction& a) { return a.op == PipeOp::backward; });
  int in_flight = 0, peak = 0;
  for (const PipeAction& a : actions) {
    if (chunk >= 0 && a.chunk != chunk) continue;
    if (a.op == PipeOp::forward) peak = std::max(peak, ++in_flight);
    if (a.op == PipeOp::backward) --in_flight;
    if (a.op == PipeOp::forward && !has_backward) --in_flight;
  }
  return peak;
}

std::string to_string(const PipeAction& a) {
  std::string m = std::to_string(a.micro_batch);
  if (a.chunk > 0) m.append("c").append(std::to_string(a.chunk));
  const std::string p = std::to_string(a.peer);
  switch (a.op) {
    case PipeOp::recv_forward: return "recvF" + m + "<-" + p;
    case PipeOp::forward: return "F" + m;
    case PipeOp::send_forward: return "sendF" + m + "->" + p;
    case PipeOp::recv_backward: return "recvB" + m + "<-" + p;
    case PipeOp::backward: return "B" + m;
    case PipeOp::send_backward: return "sendB" + m + "->" + p;
  }
  return "?";
}

}  // namespace strata
