// zero_partition.h — how ZeRO shards a flat buffer of tensors over the data-parallel group.
//
// Each tensor (rows x row_len, a 1-D tensor is rows x 1) is split over the D data ranks along its first
// dimension in whole rows: rank r owns rows [r*q, min(rows, (r+1)*q)) with q = ceil(rows / D), so the
// last ranks may own fewer rows, or none for a tensor with fewer rows than ranks. Every shard is thus a
// rectangular block of the full logical tensor (a checkpoint writes it as one HDF5 hyperslab), unlike
// the flat even split of DeepSpeed/Megatron whose shards cut through tensors.
// A rank's owned pieces are packed, in tensor order, into its compact optimizer-state buffer.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace strata {

struct ShardTensor {
  std::size_t offset = 0;   // of the tensor in the flat buffer, in elements
  std::size_t rows = 0;
  std::size_t row_len = 1;
};

struct ShardPiece {
  std::size_t offset = 0;        // in the flat buffer
  std::size_t count = 0;         // elements (whole rows)
  std::size_t state_offset = 0;  // in the owner's compact state buffer
  std::size_t tensor = 0;        // index into the tensor list
  std::size_t first_row = 0;
};

class ZeroPartition {
 public:
  ZeroPartition(std::vector<ShardTensor> tensors, int data_size);

  int data_size() const { return d_; }
  // Pieces owned by data rank r (tensors with no rows for r are absent), in tensor order.
  const std::vector<ShardPiece>& pieces(int r) const { return pieces_[r]; }
  // Elements owned by rank r (the size of its compact state buffer).
  std::size_t owned(int r) const { return owned_[r]; }
  // Rows [first, first+count) of tensor t owned by rank r.
  std::size_t rows_of(std::size_t t, int r, std::size_t* first_row) const;
  // Where rank r's pieces of tensors t, t+1, ... begin in its compact buffer (t == tensors().size():
  // owned(r)). A run of consecutive tensors [t0, t1) is thus [state_before(r, t0), state_before(r, t1)).
  std::size_t state_before(int r, std::size_t t) const { return state_before_[r][t]; }
  // The tensors [first, last) that exactly cover the flat range [offset, offset + count), which must
  // start and end at tensor boundaries (throws otherwise).
  std::pair<std::size_t, std::size_t> tensors_of(std::size_t offset, std::size_t count) const;
  const std::vector<ShardTensor>& tensors() const { return tensors_; }

 private:
  std::vector<ShardTensor> tensors_;
  int d_;
  std::vector<std::vector<ShardPiece>> pieces_;
  std::vector<std::size_t> owned_;
  std::vector<std::vector<std::size_t>> state_before_;  // [rank][tensor], tensors().size() + 1 entries
};

}  // namespace strata
