// nccl_communicator.h — Communicator (communicator.h) over NCCL for the CUDA backend (built only with
// CUDA), and make_nccl_groups, the NCCL counterpart of make_mpi_groups.
//
// Rules:
//  - One ncclComm_t per group, created from an ncclUniqueId that group rank 0 makes and broadcasts
//    over the group's MPI communicator; that MPI communicator is kept (below).
//  - Device buffers go through NCCL on the backend's communication stream: the comm stream first
//    waits for an event recorded on the compute stream (so the operation sees every op enqueued
//    before it), and an event recorded after the NCCL call completes the Request. wait() blocks the
//    host until that event and makes the compute stream wait for it; a blocking call returns at once
//    with the compute stream ordered after the operation (ops enqueued later see its result), so
//    data-parallel all-reduces overlap the backward pass that keeps running on the compute stream.
//  - Host buffers (the trainer's loss and norm scalars) go through the group's MPI communicator
//    unchanged. A call site passes either host or device buffers, never a mix (Error(internal)).
//    Whether a call is host or device is decided from the buffer whose size every rank agrees on,
//    so all ranks take the same path.
//  - reduce_scatterv / all_gatherv have no NCCL primitive: they are grouped ncclReduce / ncclBroadcast
//    calls, one per rank's block. Point-to-point sends and receives of device buffers are staged
//    through host memory and MPI (NCCL send/recv pairs issued one at a time can deadlock the stream
//    pairs, e.g. in send_recv's receive-then-send), so the pipeline's activations cross via the host.
//  - Reductions are deterministic for a fixed (operation, count, group): NCCL picks one algorithm.
#pragma once

#include <mpi.h>
#include <nccl.h>

#include <memory>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "parallel/mpi_communicator.h"

// NCCL_CHECK(call): throw an internal Error naming the failed call and NCCL's error string.
#define NCCL_CHECK(call)                                                                                 \
  do {                                                                                                   \
    const ncclResult_t strata_nccl_rc_ = (call);                                                         \
    if (strata_nccl_rc_ != ncclSuccess) {                                                                \
      STRATA_THROW(internal, #call, " failed: ", ncclGetErrorString(strata_nccl_rc_), " (", ncclGetLastError(nullptr), ")"); \
    }                                                                                                    \
  } while (0)

namespace strata {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over mpi's group: every member calls it at the same point.
  NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi, cuda::Streams streams);
  ~NcclCommunicator() override;

  int size() const override { return mpi_->size(); }
  int rank() const override { return mpi_->rank(); }
  std::string backend_name() const override { return "nccl"; }
  // enqueue(): events between the two streams; staged point-to-point: copies on the compute stream.
  bool stream_ordered() const override { return true; }

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
  template <typename F>
  Request enqueue(bool blocking, F&& nccl_calls);
  std::unique_ptr<MpiCommunicator> mpi_;
  cuda::Streams streams_;
  ncclComm_t comm_ = nullptr;
};

// This rank's groups of `topology` with NCCL communicators on `backend`'s streams (a CUDA backend);
// collective over world like make_mpi_groups.
ParallelGroups make_nccl_groups(const Topology& topology, Backend& backend, MPI_Comm world = MPI_COMM_WORLD);

}  // namespace strata
