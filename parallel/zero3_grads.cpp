// zero3_grads.cpp — see zero3_grads.h.
#include "parallel/zero3_grads.h"

#include <chrono>
#include <span>

#include "kernels/error.h"
#include "parallel/stream_sync.h"

namespace strata {

Zero3Grads::Zero3Grads(Backend& backend, Communicator& data, const ZeroPartition& partition,
                       std::vector<Zero3Range> ranges, float* grad_shard)
    : be_(backend), comm_(data), partition_(partition), ranges_(std::move(ranges)), grad_shard_(grad_shard) {
  STRATA_CHECK(partition_.data_size() == comm_.size(), internal, "Zero3Grads: a partition over ",
               partition_.data_size(), " data ranks for a data group of ", comm_.size());
  for (const Zero3Range& r : ranges_)
    range_tensors_.push_back(r.count > 0 ? partition_.tensors_of(r.offset, r.count) : std::pair<std::size_t, std::size_t>{});
  const std::vector<Zero3Pool> sent = zero3_pools(ranges_, [this](int i) { return ranges_[i].count; });
  const std::vector<Zero3Pool> received = zero3_pools(ranges_, [this](int i) { return mine(i).second; });
  pools_.resize(sent.size());
  for (std::size_t p = 0; p < sent.size(); ++p) {
    pools_[p].resize(sent[p].buffers);
    for (Buffer& b : pools_[p]) {
      b.data = DeviceBuffer<float>(be_, sent[p].capacity);
      b.recv = DeviceBuffer<float>(be_, received[p].capacity);
    }
  }
}

std::pair<std::size_t, std::size_t> Zero3Grads::mine(int range) const {
  if (ranges_[range].count == 0) return {0, 0};
  const int me = comm_.rank();
  const std::size_t first = partition_.state_before(me, range_tensors_[range].first);
  return {first, partition_.state_before(me, range_tensors_[range].second) - first};
}

Zero3Grads::Buffer* Zero3Grads::holding(int range) {
  for (Buffer& b : pools_[ranges_[range].pool])
    if (b.range == range) return &b;
  return nullptr;
}

void Zero3Grads::land(Buffer& b) {
  if (b.range < 0) return;
  for (Request& r : b.pending) r.wait();
  b.pending.clear();
  const auto [first, n] = mine(b.range);
  be_.add(grad_shard_ + first, grad_shard_ + first, b.recv.data(), n);
  b.range = -1;
}

float* Zero3Grads::acquire(int range) {
  STRATA_CHECK(range >= 0 && range < static_cast<int>(ranges_.size()) && ranges_[range].count > 0, internal,
               "Zero3Grads: acquire of range ", range, ", which holds no parameters");
  STRATA_CHECK(holding(range) == nullptr || !holding(range)->held, internal, "Zero3Grads: range ", range,
               " acquired twice");
  // The least recently used buffer not being written; its reduction (if any) lands first.
  Buffer* b = nullptr;
  for (Buffer& c : pools_[ranges_[range].pool])
    if (!c.held && (b == nullptr || c.last_use < b->last_use)) b = &c;
  STRATA_CHECK(b != nullptr, internal, "Zero3Grads: every gradient buffer of pool ", ranges_[range].pool,
               " is being written (range ", range, ")");
  land(*b);
  b->range = range;
  b->held = true;
  b->last_use = ++clock_;
  be_.fill_zero(b->data.data(), ranges_[range].count * sizeof(float));
  return b->data.data();
}

void Zero3Grads::release(int range) {
  Buffer* b = holding(range);
  STRATA_CHECK(b != nullptr && b->held, internal, "Zero3Grads: release of range ", range, ", not acquired");
  b->held = false;
  // The communicator reads the buffer: the backward's queued work must be done first (CPU: a no-op; NCCL
  // orders itself after it on the device).
  sync_for(comm_, be_);
  const auto& ts = partition_.tensors();
  const int me = comm_.rank();
  const std::size_t first = mine(range).first;
  counts_.assign(comm_.size(), 0);
  for (std::size_t t = range_tensors_[range].first; t < range_tensors_[range].second; ++t) {
    std::size_t row = 0;
    for (int r = 0; r < comm_.size(); ++r) counts_[r] = partition_.rows_of(t, r, &row) * ts[t].row_len;
    const std::size_t n = ts[t].rows * ts[t].row_len;
    b->pending.push_back(comm_.ireduce_scatterv(
        std::span<const float>(b->data.data() + (ts[t].offset - ranges_[range].offset), n),
        std::span<float>(b->recv.data() + (partition_.state_before(me, t) - first), counts_[me]), counts_));
  }
  launched_ += ranges_[range].count;
  for (auto& pool : pools_)
    for (Buffer& c : pool)
      for (Request& r : c.pending) r.test();  // drive progress of the earlier reductions
}

double Zero3Grads::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t done = 0;
  for (auto& pool : pools_) {
    for (Buffer& b : pool) {
      STRATA_CHECK(!b.held, internal, "Zero3Grads: range ", b.range, " still being written at the end of the step");
      bool landed = b.range >= 0;
      for (Request& r : b.pending) landed = r.test() && landed;
      if (landed) done += ranges_[b.range].count;
    }
  }
  // Reductions that landed and were added before finish() (buffers reused during backward) count as
  // overlapped too.
  const std::size_t in_buffers = [&] {
    std::size_t n = 0;
    for (auto& pool : pools_)
      for (Buffer& b : pool)
        if (b.range >= 0) n += ranges_[b.range].count;
    return n;
  }();
  done += launched_ - in_buffers;
  overlapped_fraction_ = launched_ > 0 ? static_cast<double>(done) / static_cast<double>(launched_) : 0.0;
  for (auto& pool : pools_)
    for (Buffer& b : pool) land(b);
  launched_ = 0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::size_t Zero3Grads::buffer_floats() const {
  std::size_t n = 0;
  for (const auto& pool : pools_)
    for (const Buffer& b : pool) n += b.data.size() + b.recv.size();
  return n;
}

}  // namespace strata
