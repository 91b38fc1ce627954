// sequence_parallel.cpp — see sequence_parallel.h.
#include "parallel/sequence_parallel.h"

#include <cstdint>
#include <span>

#include "kernels/error.h"

namespace strata {

RowSplit row_split(const Communicator& tensor, std::size_t rows, std::size_t width) {
  const auto t = static_cast<std::size_t>(tensor.size());
  STRATA_CHECK(rows % t == 0, internal, "sequence parallelism: ", rows, " rows do not split evenly over ", t,
               " tensor ranks (train.micro_batch * model.seq_len must be a multiple of parallel.tensor)");
  return RowSplit{rows, width, tensor.rank(), tensor.size()};
}

void gather_rows(Communicator& tensor, const RowSplit& split, const float* local, float* full) {
  tensor.all_gather(std::span<const float>(local, split.local_floats()), std::span<float>(full, split.full_floats()));
}

void gather_rows(Communicator& tensor, const RowSplit& split, const bf16* local, bf16* full) {
  // Moved as raw bytes (the communicator reduces no bf16; a gather only copies).
  const auto* src = reinterpret_cast<const std::uint8_t*>(local);
  auto* dst = reinterpret_cast<std::uint8_t*>(full);
  tensor.all_gather(std::span<const std::uint8_t>(src, split.local_floats() * sizeof(bf16)),
                    std::span<std::uint8_t>(dst, split.full_floats() * sizeof(bf16)));
}

void scatter_sum_rows(Communicator& tensor, const RowSplit& split, const float* full, float* local) {
  tensor.reduce_scatter(std::span<const float>(full, split.full_floats()), std::span<float>(local, split.local_floats()));
}

}  // namespace strata
