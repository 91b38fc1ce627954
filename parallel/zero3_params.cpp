// zero3_params.cpp — see zero3_params.h.
#include "parallel/zero3_params.h"

#include <algorithm>
#include <span>

#include "kernels/error.h"
#include "parallel/stream_sync.h"

namespace strata {

std::vector<Zero3Pool> zero3_pools(const std::vector<Zero3Range>& ranges, const std::function<std::size_t(int)>& floats) {
  std::vector<Zero3Pool> pools;
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const Zero3Range& r = ranges[i];
    STRATA_CHECK(r.pool >= 0, internal, "ZeRO-3: range ", i, " in negative pool ", r.pool);
    if (r.count == 0) continue;
    if (static_cast<std::size_t>(r.pool) >= pools.size()) {
      pools.resize(r.pool + 1);
      members.resize(r.pool + 1, 0);
    }
    pools[r.pool].capacity = std::max(pools[r.pool].capacity, floats(static_cast<int>(i)));
    ++members[r.pool];
  }
  for (std::size_t p = 0; p < pools.size(); ++p) pools[p].buffers = std::min<std::size_t>(members[p], 2);
  return pools;
}

Zero3Params::Zero3Params(Backend& backend, Communicator& data, const ZeroPartition& partition,
                         std::vector<Zero3Range> ranges)
    : be_(backend), comm_(data), partition_(partition), ranges_(std::move(ranges)) {
  STRATA_CHECK(partition_.data_size() == comm_.size(), internal, "Zero3Params: a partition over ",
               partition_.data_size(), " data ranks for a data group of ", comm_.size());
  for (const Zero3Range& r : ranges_)
    range_tensors_.push_back(r.count > 0 ? partition_.tensors_of(r.offset, r.count) : std::pair<std::size_t, std::size_t>{});
  const std::vector<Zero3Pool> pools = zero3_pools(ranges_, [this](int i) { return ranges_[i].count; });
  pools_.resize(pools.size());
  for (std::size_t p = 0; p < pools.size(); ++p) {
    pools_[p].resize(pools[p].buffers);
    for (Buffer& b : pools_[p]) b.data = DeviceBuffer<float>(be_, pools[p].capacity);
  }
  shard_ = DeviceBuffer<float>(be_, partition_.owned(comm_.rank()));
}

void Zero3Params::load_shard(const std::vector<float>& full) {
  for (const ShardPiece& p : partition_.pieces(comm_.rank())) {
    STRATA_CHECK(p.offset + p.count <= full.size(), internal, "Zero3Params::load_shard: ", full.size(),
                 " floats do not hold the piece at ", p.offset, " (+", p.count, ")");
    be_.copy_to_device(shard_.data() + p.state_offset, full.data() + p.offset, p.count * sizeof(float));
  }
}

Zero3Params::Buffer* Zero3Params::resident(int range) {
  for (Buffer& b : pools_[ranges_[range].pool])
    if (b.range == range) return &b;
  return nullptr;
}

Zero3Params::Buffer* Zero3Params::free_buffer(int pool) {
  Buffer* best = nullptr;
  for (Buffer& b : pools_[pool])
    if (b.users == 0 && (best == nullptr || b.last_use < best->last_use)) best = &b;
  if (best != nullptr) {
    for (Request& r : best->pending) r.wait();  // an unused prefetch must land before the buffer is reused
    best->pending.clear();
  }
  return best;
}

void Zero3Params::start_gather(Buffer& b, int range) {
  b.range = range;
  b.last_use = ++clock_;
  ++gathers_;
  // The shard may just have been written by queued device work (the optimizer step).
  sync_for(comm_, be_);
  const auto& ts = partition_.tensors();
  const int me = comm_.rank();
  counts_.assign(comm_.size(), 0);
  for (std::size_t t = range_tensors_[range].first; t < range_tensors_[range].second; ++t) {
    std::size_t first = 0;
    for (int r = 0; r < comm_.size(); ++r) counts_[r] = partition_.rows_of(t, r, &first) * ts[t].row_len;
    const std::size_t n = ts[t].rows * ts[t].row_len;
    b.pending.push_back(
        comm_.iall_gatherv(std::span<const float>(shard_.data() + partition_.state_before(me, t), counts_[me]),
                           std::span<float>(b.data.data() + (ts[t].offset - ranges_[range].offset), n), counts_));
  }
}

void Zero3Params::progress() {
  for (auto& pool : pools_)
    for (Buffer& b : pool)
      for (Request& r : b.pending) r.test();
}

const float* Zero3Params::acquire(int range, int next) {
  STRATA_CHECK(range >= 0 && range < static_cast<int>(ranges_.size()) && ranges_[range].count > 0, internal,
               "Zero3Params: acquire of range ", range, ", which holds no parameters");
  Buffer* b = resident(range);
  if (b == nullptr) {
    b = free_buffer(ranges_[range].pool);
    STRATA_CHECK(b != nullptr, internal, "Zero3Params: every gather buffer of pool ", ranges_[range].pool,
                 " is in use (range ", range, " acquired while two others are held)");
    start_gather(*b, range);
  }
  for (Request& r : b->pending) r.wait();
  b->pending.clear();
  ++b->users;
  b->last_use = ++clock_;
  if (next >= 0 && next < static_cast<int>(ranges_.size()) && ranges_[next].count > 0 && resident(next) == nullptr)
    if (Buffer* n = free_buffer(ranges_[next].pool)) start_gather(*n, next);
  progress();
  return b->data.data();
}

void Zero3Params::release(int range) {
  Buffer* b = resident(range);
  STRATA_CHECK(b != nullptr && b->users > 0, internal, "Zero3Params: release of range ", range, ", not acquired");
  --b->users;
  progress();
}

void Zero3Params::invalidate() {
  for (auto& pool : pools_) {
    for (Buffer& b : pool) {
      STRATA_CHECK(b.users == 0, internal, "Zero3Params: range ", b.range, " still in use when the shards change");
      for (Request& r : b.pending) r.wait();
      b.pending.clear();
      b.range = -1;
    }
  }
}

std::size_t Zero3Params::buffer_floats() const {
  std::size_t n = 0;
  for (const auto& pool : pools_)
    for (const Buffer& b : pool) n += b.data.size();
  return n;
}

}  // namespace strata
