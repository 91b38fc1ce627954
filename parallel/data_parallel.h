// data_parallel.h — data parallelism over one data-parallel group: gradient reduction in buckets that
// overlaps the backward pass, and the ZeRO-1/2 sharded optimizer step's parameter all-gather.
//
// Buckets are the model's gradient ranges (a layer each, GptModel::GradsReady): when a layer's last
// micro-batch backward is done, its range is summed over the group with a non-blocking collective
// while the backward of the layers below goes on. Every later launch also tests the pending requests,
// which drives MPI's progress engine (Open MPI has no progress thread by default). finish() waits for
// the rest; the time spent there is the communication that was not overlapped.
//
// ZeRO: with stage >= 1 each data rank owns whole-row shards of every tensor (zero_partition.h) and
// keeps Adam moments for those only; after its update it all-gathers the parameters tensor by tensor.
// Stage 0 and 1 all-reduce each bucket in place, so every rank holds the whole reduced gradient.
// Stage 2 reduce-scatters each bucket instead, one variable-count reduce-scatter per tensor: a tensor's
// rows lie in owner order, so the flat gradient is the send buffer as it is, and the sum of this rank's
// rows lands in a compact gradient buffer of state_size() floats laid out like the Adam state (the
// segments read their gradient there, ParamSegment::grad_at_state). Stage 3 (zero3_params.h) also keeps
// the parameters only as that shard: the optimizer updates the shard (segments at their state offsets)
// and the model gathers each layer's parameters when it needs them, so gather_parameters() does nothing;
// its gradients are reduce-scattered per micro-batch by zero3_grads.h, not through reduce_async().
// What stage 2 saves on gradients, honestly: the model still accumulates full local gradients
// across micro-batches in its flat buffer during backward (as Megatron's distributed optimizer does);
// what is sharded is the reduced fp32 gradient that the optimizer consumes (and the gradient norm
// reads), and the gradient traffic per step drops from an all-reduce (2(D-1)/D of the gradients on a
// ring) to a reduce-scatter ((D-1)/D), with the parameters' all-gather as in stage 1.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/backend.h"
#include "parallel/communicator.h"
#include "parallel/zero_partition.h"

namespace strata {

class DataParallel {
 public:
  // tensors: the tensors of the flat parameter buffer (offset, rows, row length) with their weight
  // decay flags; zero_stage 0, 1, 2 or 3.
  DataParallel(Communicator& data, std::vector<ShardTensor> tensors, std::vector<bool> weight_decay, int zero_stage);

  int size() const { return comm_.size(); }
  int rank() const { return comm_.rank(); }
  int zero_stage() const { return zero_stage_; }

  // Starts summing grads[offset, offset+count) (whole tensors) over the group (non-blocking): in place
  // (stage 0/1), or (stage 2/3) into grad_shard, this rank's compact gradient buffer of state_size()
  // floats. grads and grad_shard must stay untouched until finish().
  void reduce_async(float* grads, std::size_t offset, std::size_t count, float* grad_shard = nullptr);
  // Waits for every reduction started since the last finish(); returns the seconds spent waiting.
  double finish();
  // Of the gradient elements reduced in the last finish()ed step, the fraction whose reduction had
  // already completed when finish() was called, i.e. ran while the backward went on (0 when nothing
  // was reduced). The evidence that the overlap is real, reported in the metrics.
  double overlapped_fraction() const { return overlapped_fraction_; }

  // AdamW segments of this rank: every tensor (stage 0), or its owned shards with their state packed
  // into a compact buffer of state_size() floats (stage >= 1; stage 3: the parameters too).
  const std::vector<ParamSegment>& segments() const { return segments_; }
  std::size_t state_size() const { return state_size_; }
  // This rank's shards (stage >= 1), in tensor order, at their state offsets.
  const std::vector<ShardPiece>& pieces() const { return partition_.pieces(comm_.rank()); }
  const ZeroPartition& partition() const { return partition_; }
  // After a sharded update: every rank receives every tensor's rows from their owners (stages 1 and 2).
  void gather_parameters(float* params);

 private:
  Communicator& comm_;
  ZeroPartition partition_;
  int zero_stage_;
  std::vector<ParamSegment> segments_;
  std::size_t state_size_ = 0;
  std::vector<Request> pending_;
  std::vector<std::size_t> pending_counts_;  // gradient elements of each pending reduction
  double overlapped_fraction_ = 0.0;
  std::vector<std::size_t> counts_;
};

}  // namespace strata
