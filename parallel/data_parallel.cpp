// data_parallel.cpp — see data_parallel.h.
#include "parallel/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "kernels/error.h"

namespace strata {

DataParallel::DataParallel(Communicator& data, std::vector<ShardTensor> tensors, std::vector<bool> weight_decay,
                           int zero_stage)
    : comm_(data), partition_(std::move(tensors), data.size()), zero_stage_(zero_stage) {
  STRATA_CHECK(zero_stage_ >= 0 && zero_stage_ <= 2, config, "parallel.zero_stage=", zero_stage_,
               ": this build implements ZeRO stages 0, 1 and 2");
  const auto& ts = partition_.tensors();
  STRATA_CHECK(weight_decay.size() == ts.size(), internal, "DataParallel: ", weight_decay.size(),
               " weight-decay flags for ", ts.size(), " tensors");
  if (zero_stage_ == 0) {
    for (std::size_t t = 0; t < ts.size(); ++t) {
      const std::size_t n = ts[t].rows * ts[t].row_len;
      segments_.push_back({ts[t].offset, n, weight_decay[t]});
      state_size_ = std::max(state_size_, ts[t].offset + n);
    }
    return;
  }
  for (const ShardPiece& p : partition_.pieces(comm_.rank()))
    segments_.push_back({p.offset, p.count, weight_decay[p.tensor], p.state_offset, zero_stage_ == 2});
  state_size_ = partition_.owned(comm_.rank());
  state_before_.assign(ts.size() + 1, 0);
  for (const ShardPiece& p : partition_.pieces(comm_.rank())) state_before_[p.tensor + 1] = p.count;
  for (std::size_t t = 0; t < ts.size(); ++t) state_before_[t + 1] += state_before_[t];
}

void DataParallel::reduce_async(float* grads, std::size_t offset, std::size_t count, float* grad_shard) {
  if (count == 0) return;
  if (zero_stage_ < 2) {
    if (comm_.size() == 1) return;
    pending_.push_back(comm_.iall_reduce(std::span<float>(grads + offset, count)));
    pending_counts_.push_back(count);
  } else {
    STRATA_CHECK(grad_shard != nullptr, internal, "DataParallel: ZeRO-2 reduction without a gradient shard buffer");
    // The bucket's tensors [t0, t1): it must start and end at tensor boundaries.
    const auto& ts = partition_.tensors();
    const auto by_offset = [](const ShardTensor& t, std::size_t off) { return t.offset < off; };
    const std::size_t t0 = std::lower_bound(ts.begin(), ts.end(), offset, by_offset) - ts.begin();
    const std::size_t t1 = std::lower_bound(ts.begin(), ts.end(), offset + count, by_offset) - ts.begin();
    STRATA_CHECK(t0 < t1 && ts[t0].offset == offset &&
                     ts[t1 - 1].offset + ts[t1 - 1].rows * ts[t1 - 1].row_len == offset + count,
                 internal, "DataParallel: gradient bucket [", offset, ", ", offset + count,
                 ") does not cover whole tensors");
    if (buckets_launched_ == bucket_staging_.size()) bucket_staging_.emplace_back();
    std::vector<float>& send = bucket_staging_[buckets_launched_++];
    send.resize(count);
    counts_.assign(comm_.size(), 0);
    std::size_t pos = 0;
    for (int r = 0; r < comm_.size(); ++r) {
      for (std::size_t t = t0; t < t1; ++t) {
        std::size_t first = 0;
        const std::size_t n = partition_.rows_of(t, r, &first) * ts[t].row_len;
        const float* src = grads + ts[t].offset + first * ts[t].row_len;
        std::copy(src, src + n, send.begin() + static_cast<std::ptrdiff_t>(pos));
        pos += n;
        counts_[r] += n;
      }
    }
    const std::size_t mine = state_before_[t1] - state_before_[t0];
    STRATA_CHECK(pos == count && mine == counts_[comm_.rank()], internal, "DataParallel: bucket packing mismatch");
    pending_.push_back(
        comm_.ireduce_scatterv(send, std::span<float>(grad_shard + state_before_[t0], mine), counts_));
    pending_counts_.push_back(count);
  }
  for (Request& r : pending_) r.test();  // drive progress of the earlier buckets
}

double DataParallel::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t done = 0, total = 0;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    total += pending_counts_[i];
    if (pending_[i].test()) done += pending_counts_[i];
  }
  overlapped_fraction_ = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  for (Request& r : pending_) r.wait();
  pending_.clear();
  pending_counts_.clear();
  buckets_launched_ = 0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void DataParallel::gather_parameters(float* params) {
  if (zero_stage_ == 0 || comm_.size() == 1) return;
  const auto& ts = partition_.tensors();
  std::vector<std::size_t> counts(comm_.size());
  for (std::size_t t = 0; t < ts.size(); ++t) {
    std::size_t first = 0;
    for (int r = 0; r < comm_.size(); ++r) counts[r] = partition_.rows_of(t, r, &first) * ts[t].row_len;
    partition_.rows_of(t, comm_.rank(), &first);
    float* tensor = params + ts[t].offset;
    const float* mine = tensor + first * ts[t].row_len;
    // Owners' rows lie in rank order, so the gathered concatenation is the tensor itself; the own rows are
    // staged because MPI forbids the send buffer to alias the receive buffer.
    staging_.assign(mine, mine + counts[comm_.rank()]);
    comm_.all_gatherv(staging_, std::span<float>(tensor, ts[t].rows * ts[t].row_len), counts);
  }
}

}  // namespace strata
