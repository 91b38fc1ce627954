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
  STRATA_CHECK(zero_stage_ >= 0 && zero_stage_ <= 3, config, "parallel.zero_stage=", zero_stage_,
               ": ZeRO stages are 0, 1, 2 and 3");
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
  // Stage 3: the parameters the optimizer updates are the shard itself, laid out like the state.
  for (const ShardPiece& p : partition_.pieces(comm_.rank()))
    segments_.push_back({zero_stage_ == 3 ? p.state_offset : p.offset, p.count, weight_decay[p.tensor], p.state_offset,
                         zero_stage_ >= 2});
  state_size_ = partition_.owned(comm_.rank());
}

void DataParallel::reduce_async(float* grads, std::size_t offset, std::size_t count, float* grad_shard) {
  if (count == 0) return;
  if (zero_stage_ < 2) {
    if (comm_.size() == 1) return;
    pending_.push_back(comm_.iall_reduce(std::span<float>(grads + offset, count)));
    pending_counts_.push_back(count);
  } else {
    STRATA_CHECK(grad_shard != nullptr, internal, "DataParallel: ZeRO-", zero_stage_,
                 " reduction without a gradient shard buffer");
    // One reduce-scatter per tensor of the bucket: a tensor's rows lie in owner order, so the flat
    // gradient is already the send buffer (no packing), and this rank's sum lands at its state offset.
    const auto& ts = partition_.tensors();
    const auto [t0, t1] = partition_.tensors_of(offset, count);
    const int me = comm_.rank();
    counts_.assign(comm_.size(), 0);
    for (std::size_t t = t0; t < t1; ++t) {
      std::size_t first = 0;
      for (int r = 0; r < comm_.size(); ++r) counts_[r] = partition_.rows_of(t, r, &first) * ts[t].row_len;
      const std::size_t n = ts[t].rows * ts[t].row_len;
      pending_.push_back(comm_.ireduce_scatterv(std::span<const float>(grads + ts[t].offset, n),
                                                std::span<float>(grad_shard + partition_.state_before(me, t), counts_[me]),
                                                counts_));
      pending_counts_.push_back(n);
    }
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
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void DataParallel::gather_parameters(float* params) {
  if (zero_stage_ == 0 || zero_stage_ == 3 || comm_.size() == 1) return;
  const auto& ts = partition_.tensors();
  std::vector<std::size_t> counts(comm_.size());
  for (std::size_t t = 0; t < ts.size(); ++t) {
    std::size_t first = 0;
    for (int r = 0; r < comm_.size(); ++r) counts[r] = partition_.rows_of(t, r, &first) * ts[t].row_len;
    partition_.rows_of(t, comm_.rank(), &first);
    float* tensor = params + ts[t].offset;
    const float* mine = tensor + first * ts[t].row_len;
    // Owners' rows lie in rank order, so the gathered concatenation is the tensor itself, and the own
    // rows already sit at this rank's displacement (the in-place form).
    comm_.all_gatherv(std::span<const float>(mine, counts[comm_.rank()]),
                      std::span<float>(tensor, ts[t].rows * ts[t].row_len), counts);
  }
}

}  // namespace strata
