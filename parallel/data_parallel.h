// data_parallel.h — data parallelism over one data-parallel group: gradient reduction in buckets that
// overlaps the backward pass, and the ZeRO-1 sharded optimizer step's parameter all-gather.
//
// Buckets are the model's gradient ranges (a layer each, GptModel::GradsReady): when a layer's last
// micro-batch backward is done, its range is summed over the group with a non-blocking all-reduce
// while the backward of the layers below goes on. Every later launch also tests the pending requests,
// which drives MPI's progress engine (Open MPI has no progress thread by default). finish() waits for
// the rest; the time spent there is the communication that was not overlapped.
//
// ZeRO: with stage >= 1 each data rank owns whole-row shards of every tensor (zero_partition.h) and
// keeps Adam moments for those only; after its update it all-gathers the parameters tensor by tensor.
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
  // decay flags; zero_stage 0 or 1.
  DataParallel(Communicator& data, std::vector<ShardTensor> tensors, std::vector<bool> weight_decay, int zero_stage);

  int size() const { return comm_.size(); }
  int rank() const { return comm_.rank(); }
  int zero_stage() const { return zero_stage_; }

  // Starts summing grads[offset, offset+count) over the group (non-blocking).
  void reduce_async(float* grads, std::size_t offset, std::size_t count);
  // Waits for every reduction started since the last finish(); returns the seconds spent waiting.
  double finish();

  // AdamW segments of this rank: every tensor (stage 0), or its owned shards with their state packed
  // into a compact buffer of state_size() floats (stage >= 1).
  const std::vector<ParamSegment>& segments() const { return segments_; }
  std::size_t state_size() const { return state_size_; }
  // After a sharded update: every rank receives every tensor's rows from their owners (stage >= 1).
  void gather_parameters(float* params);

 private:
  Communicator& comm_;
  ZeroPartition partition_;
  int zero_stage_;
  std::vector<ParamSegment> segments_;
  std::size_t state_size_ = 0;
  std::vector<Request> pending_;
  std::vector<float> staging_;  // one tensor's owned rows, sent by the all-gather
};

}  // namespace strata
