// zero3_params.h — ZeRO stage 3 parameter residency: a model partition's parameters live only as this
// data rank's whole-row shards (zero_partition.h), and each range of the flat buffer (the embedding, a
// block, the head: ParamLayout::range) is all-gathered from the data group into a gather buffer right
// before it is used, and handed back after.
//
// Gathering range i (tensors [t0, t1)): one variable-count all-gather per tensor, sending this rank's
// rows straight from the shard (state offset of its piece) into the tensor's place in the gather
// buffer; owners' rows lie in rank order, so the concatenation is the tensor itself and nothing is
// packed or unpacked. The model names, with each acquire, the range it will use next; its gather is
// started non-blocking into another buffer (prefetch) and completes while the current range computes
// (progress is driven by testing the pending requests at every acquire and release; Open MPI has no
// progress thread by default).
//
// Buffers: ranges are grouped into pools (the embedding, the blocks, the head), each pool sized for its
// largest range, two buffers for a pool of several ranges (the one in use and the prefetched next: a
// double buffer), one otherwise. A released buffer keeps its contents while the shards do not change,
// so a range used again before its buffer is reused (the last blocks of a forward, first in the backward;
// the embedding at the head for the tied output projection) is not gathered twice. invalidate()
// forgets every gathered range before the optimizer updates the shards. Per-rank parameter memory is
// thus the shard (about 1/D of the partition) plus the gather buffers (two blocks, the embedding and
// the head), instead of the whole partition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/backend.h"
#include "parallel/communicator.h"
#include "parallel/zero_partition.h"

namespace strata {

struct Zero3Range {
  std::size_t offset = 0, count = 0;  // whole tensors of the partition's flat buffer (count 0: an unused range)
  int pool = 0;                       // ranges of one pool share its gather buffers
};

// Buffers of each pool of `ranges` (pools 0 .. max pool): two for a pool of several non-empty ranges
// (the one in use and the next), one for a pool of one, each of the largest floats(i) of its ranges.
struct Zero3Pool {
  std::size_t buffers = 0, capacity = 0;
};
std::vector<Zero3Pool> zero3_pools(const std::vector<Zero3Range>& ranges, const std::function<std::size_t(int)>& floats);

class Zero3Params {
 public:
  // partition: the data group's ZeRO partition of the flat buffer (the same as DataParallel's); it must
  // outlive this object.
  Zero3Params(Backend& backend, Communicator& data, const ZeroPartition& partition, std::vector<Zero3Range> ranges);

  // This rank's master parameters: its pieces packed in tensor order (ShardPiece::state_offset), the
  // buffer the optimizer updates.
  float* shard() { return shard_.data(); }
  std::size_t shard_floats() const { return shard_.size(); }
  // Copies this rank's pieces out of the partition's full flat parameters (host, e.g. the initial values).
  void load_shard(const std::vector<float>& full);

  // Range i's count floats (element k: flat offset range.offset + k), gathered if not resident, valid
  // until release(i). Starts gathering range `next` (-1: none) into a free buffer of its pool.
  const float* acquire(int range, int next);
  void release(int range);
  // Waits for pending gathers and forgets every gathered range: the shards are about to change. No range
  // may be acquired.
  void invalidate();

  // Floats in gather buffers (their fixed capacity), and the ranges gathered so far (prefetches included).
  std::size_t buffer_floats() const;
  uint64_t gathers() const { return gathers_; }

 private:
  struct Buffer {
    DeviceBuffer<float> data;
    int range = -1;  // whose parameters it holds (or is receiving), -1: none
    int users = 0;
    uint64_t last_use = 0;
    std::vector<Request> pending;  // the gather in flight
  };
  Buffer* resident(int range);
  Buffer* free_buffer(int pool);  // the least recently used buffer without users (pending gather done)
  void start_gather(Buffer& b, int range);
  void progress();

  Backend& be_;
  Communicator& comm_;
  const ZeroPartition& partition_;
  std::vector<Zero3Range> ranges_;
  std::vector<std::pair<std::size_t, std::size_t>> range_tensors_;  // [range] tensors [first, last)
  DeviceBuffer<float> shard_;
  std::vector<std::vector<Buffer>> pools_;
  uint64_t clock_ = 0, gathers_ = 0;
  std::vector<std::size_t> counts_;
};

}  // namespace strata
