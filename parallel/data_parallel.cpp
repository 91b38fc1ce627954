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
  STRATA_CHECK(zero_stage_ == 0 || zero_stage_ == 1, config, "parallel.zero_stage=", zero_stage_,
               ": this build implements ZeRO stages 0 and 1");
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
    segments_.push_back({p.offset, p.count, weight_decay[p.tensor], p.state_offset});
  state_size_ = partition_.owned(comm_.rank());
}

void DataParallel::reduce_async(float* grads, std::size_t offset, std::size_t count) {
  if (comm_.size() == 1 || count == 0) return;
  pending_.push_back(comm_.iall_reduce(std::span<float>(grads + offset, count)));
  for (Request& r : pending_) r.test();  // drive progress of the earlier buckets
}

double DataParallel::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  for (Request& r : pending_) r.wait();
  pending_.clear();
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
