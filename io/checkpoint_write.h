// checkpoint_write.h — writing the tensors of a checkpoint file (io/checkpoint_file.h) from many ranks at
// once: every rank writes its rectangles of the full logical datasets collectively with parallel HDF5
// (MPI-IO). Nobody gathers a tensor; HDF5 and MPI-IO place each rank's rows in the shared file.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint_file.h"

namespace strata {

// One rectangle of one dataset and its data.
struct CheckpointWrite {
  int dataset = 0;              // index into the datasets given to write_checkpoint_data
  int64_t dataset_cols = 1;     // columns of the dataset's (rows, cols) view (checkpoint_cols)
  CheckpointRect rect;
  const float* data = nullptr;  // rect.count() floats, row-major
};

// How the ranks' data reaches the file with MPI-IO (both open and close the file collectively).
//  collective   collective H5Dwrite calls (H5FD_MPIO_COLLECTIVE): MPI-IO may aggregate the ranks' pieces
//               (two-phase I/O), which parallel filesystems reward; the ranks synchronize per dataset.
//  independent  every rank writes its own rectangles (H5FD_MPIO_INDEPENDENT) without waiting for the
//               others; the ranks synchronize only to open, to close and to agree on errors. For a
//               background writer while training runs: collective transfers from a second thread keep
//               it in MPI's progress engine (busy waiting, contending with the training thread's MPI calls)
//               for the whole save.
enum class CheckpointTransfer { collective, independent };

// Writes every rank's rectangles into `file`, whose `datasets` (the same list, in the same order, on every
// rank) exist already (create_checkpoint_file), then makes the file durable (fsync on every rank, so every
// node flushes what it wrote). Every rectangle is checked against its dataset's shape first and the ranks
// agree on the result, so a bad one fails on every rank (naming the rank) before any collective write.
//  - comm != MPI_COMM_NULL: collective over comm. The file is opened with the MPI-IO driver. With
//    `collective` transfers each dataset is written in rounds of collective H5Dwrite calls: in round k
//    every rank writes its k-th rectangle of the dataset (a hyperslab of the file, contiguous in memory)
//    or joins with an empty selection; the number of rounds per dataset is agreed with one MPI_Allreduce,
//    and after every round the ranks agree that none failed (one MPI_Allreduce of an int). With
//    `independent` transfers every rank writes its rectangles one H5Dwrite each and the ranks agree on
//    errors once, after the collective close.
//    May run on any one thread of a rank (the checkpoint writer thread) when MPI provides
//    MPI_THREAD_MULTIPLE and comm is used by nobody else meanwhile; HDF5 calls hold hdf5_lock() one
//    dataset round at a time, so other threads' HDF5 reads (the data loader) interleave.
//  - comm == MPI_COMM_NULL: one process writes all the rectangles with serial HDF5.
// `after_half` (may be null) runs when half the datasets are written (the test crash hook). Throws Error{internal} naming the file and dataset; a failure on one rank
// makes the collective fail on the others too (they are told through the round agreement or MPI-IO).
void write_checkpoint_data(MPI_Comm comm, const std::string& file, const std::vector<CheckpointDatasetSpec>& datasets,
                           const std::vector<CheckpointWrite>& writes,
                           CheckpointTransfer transfer = CheckpointTransfer::collective, void (*after_half)() = nullptr);

}  // namespace strata
