// pipeline_schedule.h — pipeline-parallel schedules as data: the list of actions one pipeline stage
// runs in one training step, generated from (stages P, this stage, micro-batches M) and executed by
// one executor (src/pipeline_executor.h), so the schedules can be unit-tested without MPI.
//
// 1F1B (PipeDream-Flush, Narayanan et al., arXiv 2006.09503; Megatron-LM's non-interleaved schedule):
// stage s runs a warmup of w = min(P - s - 1, M) forwards, then M - w steady pairs (forward of
// micro-batch w + i, backward of micro-batch i), then a cooldown of the w remaining backwards. At most
// min(P - s, M) micro-batches are in flight on stage s (forwarded, not yet backwarded), so activation
// memory is that many activation sets, independent of M; backwards run in micro-batch order.
//
// A forward on stage s > 0 is preceded by receiving its input from stage s - 1 and, on s < P - 1,
// followed by sending its output to s + 1; a backward on s < P - 1 is preceded by receiving the
// gradient of its output from s + 1 and, on s > 0, followed by sending its input gradient to s - 1.
// Receives complete before the next action (blocking); sends are non-blocking. With these rules the
// lists are deadlock-free (the unit tests simulate them) and every send has the matching receive on
// the neighbour, in the same order, so messages need no tags.
#pragma once

#include <string>
#include <vector>

namespace strata {

enum class PipeOp { recv_forward, forward, send_forward, recv_backward, backward, send_backward };

struct PipeAction {
  PipeOp op;
  int micro_batch;
  int peer = -1;  // pipeline-group rank of the other side of a send or receive; -1 for compute
  bool operator==(const PipeAction&) const = default;
};

// One training step of stage `stage` of `stages`, over `micro_batches` micro-batches (1F1B).
std::vector<PipeAction> pipeline_1f1b_schedule(int stages, int stage, int micro_batches);
// Forward only (evaluation): every micro-batch's receive, forward and send, in order.
std::vector<PipeAction> pipeline_forward_schedule(int stages, int stage, int micro_batches);
// Largest number of micro-batches forwarded and not yet backwarded at any point of the list (with a
// forward-only list: 1, each forward's activations are dropped once it is done).
int pipeline_peak_in_flight(const std::vector<PipeAction>& actions);

std::string to_string(const PipeAction& a);  // "F3", "recvB3<-2", ... for test messages

}  // namespace strata
