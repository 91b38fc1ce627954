// mpi_communicator.h — Communicator (communicator.h) over an MPI communicator, and make_mpi_groups,
// which builds a rank's ParallelGroups from a Topology with MPI_Comm_split(color, key).
//
// Each operation maps onto one MPI call (MPI_Allreduce / MPI_Iallreduce, MPI_Reduce_scatter_block,
// MPI_Allgather(v), MPI_Bcast, MPI_Send / MPI_Recv and their I-forms), so MPI picks one algorithm
// per (call, count, group) and reductions are reproducible run to run. All MPI calls run on the
// thread that initialized MPI (MPI_THREAD_FUNNELED). Every failure throws Error(internal) with the
// failing call and its file:line (MPI_CHECK); the communicators use MPI_ERRORS_RETURN.
//
// Counts above INT_MAX elements (MPI 3.1 counts are int): all_reduce, broadcast, send and recv
// split the buffer into chunks of 2^30 elements (sender and receiver chunk alike); reduce_scatter
// and all_gather(v) reject them (block and total counts must fit in an int).
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>

#include "parallel/communicator.h"
#include "parallel/groups.h"
#include "parallel/topology.h"

namespace strata {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of comm (freed by the destructor) and sets MPI_ERRORS_RETURN on it.
  explicit MpiCommunicator(MPI_Comm comm);
  ~MpiCommunicator() override;

  // MPI_Comm_split of parent, collective over parent; null on the ranks passing MPI_UNDEFINED.
  static std::unique_ptr<MpiCommunicator> split(MPI_Comm parent, int color, int key);
  // MPI_Comm_dup of parent (e.g. of MPI_COMM_WORLD: a world communicator with its own counters).
  static std::unique_ptr<MpiCommunicator> duplicate(MPI_Comm parent);

  int size() const override { return size_; }
  int rank() const override { return rank_; }
  std::string backend_name() const override { return "mpi"; }
  MPI_Comm comm() const { return comm_; }

  Request all_reduce_impl(void* data, std::size_t n, DataType type, ReduceOp op, bool blocking) override;
  Request reduce_scatter_impl(const void* send, void* recv, std::size_t send_count, std::size_t recv_count,
                              DataType type, bool blocking) override;
  Request reduce_scatterv_impl(const void* send, std::size_t send_count, void* recv, std::size_t recv_count,
                               std::span<const std::size_t> counts, DataType type, bool blocking) override;
  Request all_gather_impl(const void* send, void* recv, std::size_t send_count, std::size_t recv_count,
                          DataType type, bool blocking) override;
  Request all_gatherv_impl(const void* send, std::size_t send_count, void* recv, std::size_t recv_count,
                           std::span<const std::size_t> counts, DataType type, bool blocking) override;
  Request broadcast_impl(void* data, std::size_t n, DataType type, int root, bool blocking) override;
  Request send_impl(const void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) override;
  Request recv_impl(void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) override;
  void barrier_impl() override;

 private:
  void check_peer_and_tag(const char* what, int peer, int tag) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int size_ = 0, rank_ = 0;
};

// This rank's groups of `topology` over `world` (collective over world: every rank calls it, in
// the same order relative to other collectives on world). Checks that world's size and this
// rank's rank in it match the topology (Error(internal) otherwise).
ParallelGroups make_mpi_groups(const Topology& topology, MPI_Comm world = MPI_COMM_WORLD);

// The same groups, each MPI communicator handed to `wrap`, which returns the communicator the groups
// hold (make_nccl_groups wraps each in an NcclCommunicator built over it).
using MpiCommWrapper = std::function<std::unique_ptr<Communicator>(std::unique_ptr<MpiCommunicator>)>;
ParallelGroups make_groups_over_mpi(const Topology& topology, MPI_Comm world, const MpiCommWrapper& wrap);

}  // namespace strata
