// pipeline_schedule.cpp — see pipeline_schedule.h.
#include "parallel/pipeline_schedule.h"

#include <algorithm>

#include "kernels/error.h"

namespace strata {
namespace {

void check_args(int stages, int stage, int micro_batches) {
  STRATA_CHECK(stages >= 1 && stage >= 0 && stage < stages && micro_batches >= 1, internal,
               "pipeline schedule: stage ", stage, " of ", stages, " stages with ", micro_batches,
               " micro-batches (need 0 <= stage < stages, micro-batches >= 1)");
}

void add_forward(std::vector<PipeAction>& out, int stages, int stage, int m) {
  if (stage > 0) out.push_back({PipeOp::recv_forward, m, stage - 1});
  out.push_back({PipeOp::forward, m});
  if (stage < stages - 1) out.push_back({PipeOp::send_forward, m, stage + 1});
}

void add_backward(std::vector<PipeAction>& out, int stages, int stage, int m) {
  if (stage < stages - 1) out.push_back({PipeOp::recv_backward, m, stage + 1});
  out.push_back({PipeOp::backward, m});
  if (stage > 0) out.push_back({PipeOp::send_backward, m, stage - 1});
}

}  // namespace

std::vector<PipeAction> pipeline_1f1b_schedule(int stages, int stage, int micro_batches) {
  check_args(stages, stage, micro_batches);
  const int warmup = std::min(stages - stage - 1, micro_batches);
  std::vector<PipeAction> out;
  for (int m = 0; m < warmup; ++m) add_forward(out, stages, stage, m);
  for (int i = 0; i < micro_batches - warmup; ++i) {
    add_forward(out, stages, stage, warmup + i);
    add_backward(out, stages, stage, i);
  }
  for (int m = micro_batches - warmup; m < micro_batches; ++m) add_backward(out, stages, stage, m);
  return out;
}

std::vector<PipeAction> pipeline_forward_schedule(int stages, int stage, int micro_batches) {
  check_args(stages, stage, micro_batches);
  std::vector<PipeAction> out;
  for (int m = 0; m < micro_batches; ++m) add_forward(out, stages, stage, m);
  return out;
}

int pipeline_peak_in_flight(const std::vector<PipeAction>& actions) {
  const bool has_backward = std::any_of(actions.begin(), actions.end(),
                                        [](const PipeAction& a) { return a.op == PipeOp::backward; });
  int in_flight = 0, peak = 0;
  for (const PipeAction& a : actions) {
    if (a.op == PipeOp::forward) peak = std::max(peak, ++in_flight);
    if (a.op == PipeOp::backward) --in_flight;
    if (a.op == PipeOp::forward && !has_backward) --in_flight;
  }
  return peak;
}

std::string to_string(const PipeAction& a) {
  const std::string m = std::to_string(a.micro_batch), p = std::to_string(a.peer);
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
