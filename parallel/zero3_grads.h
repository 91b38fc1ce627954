// zero3_grads.h — ZeRO stage 3 gradients: no rank holds the gradient of its whole partition. Each
// range (ParamLayout::range: the embedding, a block, the head) gets a zeroed gradient buffer right before
// a micro-batch's backward writes it; when that backward is done with the range, the buffer is
// reduce-scattered over the data group (one variable-count reduce-scatter per tensor: a tensor's rows
// lie in owner order, so the buffer is sent as it is) into a receive buffer of this rank's rows, which is
// added into its gradient shard (laid out like the Adam state) once it has landed. So every micro-batch
// reduces its own gradients, and the shard accumulates their sum: the gradient traffic of a step is M
// reduce-scatters for M micro-batches (ZeRO-2 reduces the accumulated gradient once), the price of not
// holding it. The sum runs over ranks first, then over micro-batches (a different floating-point order
// than the single-rank run's, within the equivalence tolerances).
//
// Buffers come in pools like the parameters' gather buffers (zero3_params.h): two for the blocks (the
// range being written and the one whose reduce-scatter is in flight), one each for the embedding and
// the head. A buffer is reused once its reduction has landed and been added; finish() waits for the
// rest.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "parallel/communicator.h"
#include "parallel/zero3_params.h"
#include "parallel/zero_partition.h"

namespace strata {

class Zero3Grads {
 public:
  // grad_shard: this rank's gradient shard (partition.owned(rank) floats), zeroed by the caller at the
  // start of a step; it and partition must outlive this object.
  Zero3Grads(Backend& backend, Communicator& data, const ZeroPartition& partition, std::vector<Zero3Range> ranges,
             float* grad_shard);

  // A zeroed buffer for range i's gradient of one backward (element k: flat offset range.offset + k).
  float* acquire(int range);
  // Range i's gradient of this backward is complete: its reduction starts (non-blocking).
  void release(int range);
  // Waits for every reduction and adds it into the shard; returns the seconds spent waiting.
  double finish();
  // Of the gradient elements reduced since the last finish(), the fraction whose reduction had landed
  // when finish() was called (0 when none).
  double overlapped_fraction() const { return overlapped_fraction_; }
  // Floats in gradient and receive buffers (their fixed capacity).
  std::size_t buffer_floats() const;

 private:
  struct Buffer {
    DeviceBuffer<float> data, recv;
    int range = -1;  // whose gradient it holds or reduces, -1: none
    bool held = false;
    uint64_t last_use = 0;
    std::vector<Request> pending;
  };
  Buffer* holding(int range);
  void land(Buffer& b);  // waits for b's reduction and adds it into the shard
  std::pair<std::size_t, std::size_t> mine(int range) const;  // this rank's rows of the range in the shard

  Backend& be_;
  Communicator& comm_;
  const ZeroPartition& partition_;
  std::vector<Zero3Range> ranges_;
  std::vector<std::pair<std::size_t, std::size_t>> range_tensors_;
  float* grad_shard_;
  std::vector<std::vector<Buffer>> pools_;
  uint64_t clock_ = 0;
  std::size_t launched_ = 0;  // elements reduced since the last finish()
  double overlapped_fraction_ = 0.0;
  std::vector<std::size_t> counts_;
};

}  // namespace strata
