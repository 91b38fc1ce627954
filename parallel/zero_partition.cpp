// zero_partition.cpp — see zero_partition.h.
#include "parallel/zero_partition.h"

#include <algorithm>
#include <utility>

#include "kernels/error.h"

namespace strata {

ZeroPartition::ZeroPartition(std::vector<ShardTensor> tensors, int data_size)
    : tensors_(std::move(tensors)), d_(data_size), pieces_(data_size), owned_(data_size, 0), state_before_(data_size) {
  STRATA_CHECK(d_ >= 1, internal, "ZeroPartition: data size must be >= 1, got ", d_);
  for (std::size_t t = 0; t < tensors_.size(); ++t) {
    STRATA_CHECK(t == 0 || tensors_[t].offset >= tensors_[t - 1].offset + tensors_[t - 1].rows * tensors_[t - 1].row_len,
                 internal, "ZeroPartition: tensor ", t, " overlaps or precedes the one before");
    for (int r = 0; r < d_; ++r) {
      state_before_[r].push_back(owned_[r]);
      std::size_t first = 0;
      const std::size_t rows = rows_of(t, r, &first);
      if (rows == 0) continue;
      const std::size_t count = rows * tensors_[t].row_len;
      pieces_[r].push_back({tensors_[t].offset + first * tensors_[t].row_len, count, owned_[r], t, first});
      owned_[r] += count;
    }
  }
  for (int r = 0; r < d_; ++r) state_before_[r].push_back(owned_[r]);
}

std::pair<std::size_t, std::size_t> ZeroPartition::tensors_of(std::size_t offset, std::size_t count) const {
  const auto by_offset = [](const ShardTensor& t, std::size_t off) { return t.offset < off; };
  const std::size_t t0 = std::lower_bound(tensors_.begin(), tensors_.end(), offset, by_offset) - tensors_.begin();
  const std::size_t t1 = std::lower_bound(tensors_.begin(), tensors_.end(), offset + count, by_offset) - tensors_.begin();
  STRATA_CHECK(t0 < t1 && tensors_[t0].offset == offset &&
                   tensors_[t1 - 1].offset + tensors_[t1 - 1].rows * tensors_[t1 - 1].row_len == offset + count,
               internal, "ZeroPartition: flat range [", offset, ", ", offset + count, ") does not cover whole tensors");
  return {t0, t1};
}

std::size_t ZeroPartition::rows_of(std::size_t t, int r, std::size_t* first_row) const {
  const std::size_t rows = tensors_[t].rows;
  const std::size_t q = (rows + d_ - 1) / d_;
  const std::size_t first = std::min(rows, static_cast<std::size_t>(r) * q);
  const std::size_t last = std::min(rows, first + q);
  *first_row = first;
  return last - first;
}

}  // namespace strata
