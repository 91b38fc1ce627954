// sequence_parallel.h — the row split of Megatron sequence parallelism (Korthikanti et al. 2022,
// arXiv 2205.05198) and its two collectives over the tensor group.
//
// A micro-batch's activations are (rows, width) row-major matrices with rows = B*T, the sequences of the
// micro-batch one after the other (row b*T + i is position i of sequence b). With sequence parallelism
// the T tensor ranks split those rows contiguously: tensor rank t holds rows
// [t * rows/T, (t+1) * rows/T) of the residual stream, the LayerNorms and the bias+residual adds
// (for B = 2, T = 8 and 4 tensor ranks: rank 0 holds positions 0-3 of sequence 0, rank 1 positions 4-7
// of sequence 0, rank 2 positions 0-3 of sequence 1, rank 3 positions 4-7 of sequence 1). rows must be a
// multiple of T (the configuration checks train.micro_batch * model.seq_len).
//
// Where the tensor-parallel layers need every row, the split is undone with
//   gather_rows          g:  all-gather of the rank's rows (before a column-parallel matmul; its
//                            backward is scatter_sum_rows),
//   scatter_sum_rows     g': reduce-scatter of partial sums over all rows into the rank's rows (after a
//                            row-parallel matmul; its backward is gather_rows),
// which move the same bytes as the all-reduce they replace (an all-reduce is a reduce-scatter plus an
// all-gather) while every element-wise op between them works on 1/T of the rows.
#pragma once

#include <cstddef>

#include "kernels/bf16.h"
#include "parallel/communicator.h"

namespace strata {

struct RowSplit {
  std::size_t rows = 0;   // all rows (B*T)
  std::size_t width = 0;  // floats per row
  int rank = 0, size = 1;

  std::size_t local_rows() const { return rows / static_cast<std::size_t>(size); }
  std::size_t first_row() const { return static_cast<std::size_t>(rank) * local_rows(); }
  std::size_t local_floats() const { return local_rows() * width; }
  std::size_t full_floats() const { return rows * width; }
  // Offset in floats of this rank's rows in a full (rows, width) matrix.
  std::size_t local_offset() const { return first_row() * width; }
};

// The split of `rows` rows of `width` floats over `tensor`; throws Error(internal) when rows is not a
// multiple of the group size.
RowSplit row_split(const Communicator& tensor, std::size_t rows, std::size_t width);

// full (rows, width) <- every rank's local (local_rows, width), in rank order. local may be this rank's
// rows of full (local == full + local_offset()): then it is gathered in place.
void gather_rows(Communicator& tensor, const RowSplit& split, const float* local, float* full);
// The same for bf16 rows (train.precision=bf16 keeps the LayerNorm outputs in bf16): half the bytes.
void gather_rows(Communicator& tensor, const RowSplit& split, const bf16* local, bf16* full);

// local (local_rows, width) <- this rank's rows of the sum over the group of every rank's full
// (rows, width). local may be this rank's rows of full (local == full + local_offset()).
void scatter_sum_rows(Communicator& tensor, const RowSplit& split, const float* full, float* local);

}  // namespace strata
