// pipeline_schedule.h — pipeline-parallel schedules as data: the list of actions one pipeline rank runs
// in one training step, generated from (stages P, this stage, micro-batches M, model chunks V) and
// executed by one executor (src/pipeline_executor.h), so the schedules can be unit-tested without MPI.
//
// 1F1B (PipeDream-Flush, Narayanan et al., arXiv 2006.09503; Megatron-LM's non-interleaved schedule):
// stage s runs a warmup of w = min(P - s - 1, M) forwards, then M - w steady pairs (forward of
// micro-batch w + i, backward of micro-batch i), then a cooldown of the w remaining backwards. At most
// min(P - s, M) micro-batches are in flight on stage s (forwarded, not yet backwarded), so activation
// memory is that many activation sets, independent of M; backwards run in micro-batch order.
//
// Interleaved 1F1B (Narayanan et al., arXiv 2104.04473 section 2.2; Megatron-LM's
// forward_backward_pipelining_with_interleaving): rank p holds V model chunks; chunk c is virtual stage
// c*P + p of the P*V-stage pipeline (layers/(P*V) blocks each), so a micro-batch goes around the ring of
// ranks V times. Every rank runs its M*V chunk-forwards in the same order: forward k is micro-batch
// (k / (P*V))*P + k % P on chunk (k % (P*V)) / P, i.e. groups of P micro-batches through chunk 0, then
// the same group through chunk 1, ... (which needs M to be a multiple of P); backward k is the same
// micro-batch on chunk V - 1 - (k % (P*V)) / P. Rank p warms up with w = min((P - p - 1)*2 + (V - 1)*P,
// M*V) forwards, then alternates forward w + i / backward i, then cools down. Each chunk's forwards and
// backwards run in micro-batch order; at most min(w + 1, M*V) chunk-micro-batches are in flight on
// rank p, each 1/V of a stage's activations. The pipeline bubble shrinks from (P-1)/M of the ideal step
// time (1F1B) to (P-1)/(V*M), for V times as many point-to-point messages.
//
// A forward of virtual stage v > 0 is preceded by receiving its input from virtual stage v - 1 (rank
// p - 1, or rank P - 1's previous chunk when p = 0) and, unless v is the last, followed by sending its
// output on; a backward of v < P*V - 1 is preceded by receiving its output's gradient from v + 1 and,
// on v > 0, followed by sending its input's gradient back. Receives complete before the next action
// (blocking); sends are non-blocking. Activations travel with tag kActivationTag, gradients with
// kGradientTag: with two ranks both kinds go both ways between the same pair, and the tags keep the
// streams apart. Within one tag, every rank's sends and its neighbour's receives follow the same global
// order (all ranks forward, and backward, chunk-micro-batches in the same sequence), so messages need no
// further tags. The unit tests simulate all ranks and check that every receive gets the message it
// expects and that no list deadlocks.
#pragma once

#include <string>
#include <vector>

namespace strata {

enum class PipeOp { recv_forward, forward, send_forward, recv_backward, backward, send_backward };

// Point-to-point tags of the two message streams between pipeline ranks.
inline constexpr int kActivationTag = 0;  // forward: a virtual stage's output activations
inline constexpr int kGradientTag = 1;    // backward: the gradient of a virtual stage's input

struct PipeAction {
  PipeOp op;
  int micro_batch;
  int peer = -1;  // pipeline-group rank of the other side of a send or receive; -1 for compute
  int chunk = 0;  // this rank's model chunk that computes, or whose input/output is moved
  bool operator==(const PipeAction&) const = default;
};

// One training step of stage `stage` of `stages`, over `micro_batches` micro-batches (1F1B, one chunk).
std::vector<PipeAction> pipeline_1f1b_schedule(int stages, int stage, int micro_batches);
// Interleaved 1F1B over `chunks` >= 2 model chunks per rank; micro_batches must be a multiple of stages.
std::vector<PipeAction> pipeline_interleaved_schedule(int stages, int stage, int micro_batches, int chunks);
// The training step of a rank holding `chunks` model chunks: 1F1B for one chunk, interleaved otherwise.
std::vector<PipeAction> pipeline_train_schedule(int stages, int stage, int micro_batches, int chunks = 1);
// Forward only (evaluation): each micro-batch through every chunk in turn (receive, forward, send).
std::vector<PipeAction> pipeline_forward_schedule(int stages, int stage, int micro_batches, int chunks = 1);
// Largest number of micro-batches forwarded and not yet backwarded at any point of the list, over all
// chunks (chunk < 0) or on one chunk (with a forward-only list: 1, each forward's activations are
// dropped once it is done).
int pipeline_peak_in_flight(const std::vector<PipeAction>& actions, int chunk = -1);

std::string to_string(const PipeAction& a);  // "F3", "F3c1" (chunk 1), "recvB3<-2", ... for test messages

}  // namespace strata
