// nccl_communicator.cpp — NCCL communicator and groups (see nccl_communicator.h).
#include "parallel/nccl_communicator.h"

#include <cuda_runtime.h>

#include <cstring>
#include <exception>
#include <numeric>
#include <utility>
#include <vector>

#include "parallel/mpi_env.h"

#define STRATA_CUDA_CHECK(call)                                                                    \
  do {                                                                                             \
    const cudaError_t strata_cuda_rc_ = (call);                                                    \
    if (strata_cuda_rc_ != cudaSuccess)                                                            \
      STRATA_THROW(internal, #call, " failed: ", cudaGetErrorString(strata_cuda_rc_));             \
  } while (0)

namespace strata {
namespace {

ncclDataType_t nccl_type(DataType type) {
  switch (type) {
    case DataType::f32: return ncclFloat32;
    case DataType::f64: return ncclFloat64;
    case DataType::i32: return ncclInt32;
    case DataType::i64: return ncclInt64;
    case DataType::u8: return ncclUint8;
  }
  STRATA_THROW(internal, "nccl: unknown data type");
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::max ? ncclMax : ncclSum; }

// True for device (or managed) memory; false for host memory and for empty buffers.
bool on_device(const void* p, std::size_t count) {
  if (count == 0 || p == nullptr) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

// The other buffer of a call routed by `device` must live on the same side.
void check_same_side(bool device, const void* other, std::size_t count, const char* op) {
  if (count == 0) return;
  STRATA_CHECK(on_device(other, count) == device, internal, "nccl ", op,
               ": one buffer is in host memory and the other in device memory; pass both on the same side");
}

// A pending NCCL operation: complete once `done` (recorded on the comm stream after it) has fired.
class NcclRequest final : public RequestImpl {
 public:
  NcclRequest(cudaEvent_t done, cudaStream_t compute) : done_(done), compute_(compute) {}
  ~NcclRequest() override { cudaEventDestroy(done_); }
  void wait() override {
    STRATA_CUDA_CHECK(cudaEventSynchronize(done_));
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
  }
  bool test() override {
    const cudaError_t rc = cudaEventQuery(done_);
    if (rc == cudaErrorNotReady) return false;
    STRATA_CUDA_CHECK(rc);
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
    return true;
  }

 private:
  cudaEvent_t done_;
  cudaStream_t compute_;
};

// A device send or receive staged through host memory and the group's MPI communicator.
class StagedRequest final : public RequestImpl {
 public:
  std::vector<unsigned char> host;
  Request mpi;
  void* device_dst = nullptr;  // receive: where the data goes once it arrived
  cudaStream_t compute = nullptr;
  void wait() override {
    mpi.wait();
    finish();
  }
  bool test() override {
    if (!mpi.test()) return false;
    finish();
    return true;
  }

 private:
  void finish() {
    if (device_dst == nullptr) return;
    STRATA_CUDA_CHECK(cudaMemcpyAsync(device_dst, host.data(), host.size(), cudaMemcpyHostToDevice, compute));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(compute));  // `host` is freed with this request
    device_dst = nullptr;
  }
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi, cuda::Streams streams)
    : mpi_(std::move(mpi)), streams_(streams) {
  STRATA_CHECK(mpi_ != nullptr, internal, "NcclCommunicator needs the group's MPI communicator");
  ncclUniqueId id{};
  if (mpi_->rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  static_assert(sizeof(id.internal) == NCCL_UNIQUE_ID_BYTES);
  MPI_CHECK(MPI_Bcast(id.internal, NCCL_UNIQUE_ID_BYTES, MPI_BYTE, 0, mpi_->comm()));
  STRATA_CUDA_CHECK(cudaSetDevice(streams_.device));
  NCCL_CHECK(ncclCommInitRank(&comm_, mpi_->size(), id, mpi_->rank()));
}

NcclCommunicator::~NcclCommunicator() {
  // Destroyed while an exception unwinds (this rank failed, maybe alone: parallel/abort_lone_failure.h):
  // its peers may never match an operation in flight, and ncclCommDestroy, like the synchronize, waits
  // for NCCL's streams; ncclCommAbort stops those operations instead.
  if (std::uncaught_exceptions() > 0) {
    if (comm_) ncclCommAbort(comm_);
    return;
  }
  if (streams_.comm) cudaStreamSynchronize(streams_.comm);
  if (comm_) ncclCommDestroy(comm_);
}

template <typename F>
Request NcclCommunicator::enqueue(bool blocking, F&& nccl_calls) {
  cudaEvent_t ready = nullptr, done = nullptr;
  STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  const cudaError_t rc = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  if (rc != cudaSuccess) cudaEventDestroy(ready);
  STRATA_CUDA_CHECK(rc);
  auto request = std::make_unique<NcclRequest>(done, streams_.compute);  // owns `done` from here
  STRATA_CUDA_CHECK(cudaEventRecord(ready, streams_.compute));
  STRATA_CUDA_CHECK(cudaStreamWaitEvent(streams_.comm, ready, 0));
  cudaEventDestroy(ready);  // released once the wait has been enqueued (the wait still holds)
  nccl_calls(streams_.comm);
  STRATA_CUDA_CHECK(cudaEventRecord(done, streams_.comm));
  if (blocking) {
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(streams_.compute, done, 0));
    return Request();
  }
  return Request(std::move(request));
}

Request NcclCommunicator::all_reduce_impl(void* data, std::size_t n, DataType type, ReduceOp op, bool blocking) {
  if (!on_device(data, n)) return mpi_->all_reduce_impl(data, n, type, op, blocking);
  STRATA_CHECK(type != DataType::u8, internal, "all_reduce: u8 cannot be reduced");
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclAllReduce(data, data, n, nccl_type(type), nccl_op(op), comm_, s));
  });
}

Request NcclCommunicator::reduce_scatter_impl(const void* send, void* recv, std::size_t send_count,
                                              std::size_t recv_count, DataType type, bool blocking) {
  if (!on_device(send, send_count)) return mpi_->reduce_scatter_impl(send, recv, send_count, recv_count, type, blocking);
  check_same_side(true, recv, recv_count, "reduce_scatter");
  STRATA_CHECK(send_count == recv_count * size(), internal, "reduce_scatter: the input holds ", send_count,
               " elements, expected size() * output = ", size(), " * ", recv_count);
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclReduceScatter(send, recv, recv_count, nccl_type(type), ncclSum, comm_, s));
  });
}

Request NcclCommunicator::reduce_scatterv_impl(const void* send, std::size_t send_count, void* recv,
                                               std::size_t recv_count, std::span<const std::size_t> counts,
                                               DataType type, bool blocking) {
  if (!on_device(send, send_count))
    return mpi_->reduce_scatterv_impl(send, send_count, recv, recv_count, counts, type, blocking);
  check_same_side(true, recv, recv_count, "reduce_scatterv");
  STRATA_CHECK(counts.size() == static_cast<std::size_t>(size()) && counts[rank()] == recv_count &&
                   std::accumulate(counts.begin(), counts.end(), std::size_t{0}) == send_count,
               internal, "reduce_scatterv: counts do not match the buffers (", counts.size(), " counts, input ",
               send_count, ", output ", recv_count, ")");
  const std::size_t es = data_type_size(type);
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclGroupStart());
    std::size_t displ = 0;
    for (int r = 0; r < size(); ++r) {
      const void* block = static_cast<const char*>(send) + displ * es;
      // Non-roots' receive buffer is never written; NCCL still wants a device pointer.
      NCCL_CHECK(ncclReduce(block, r == rank() ? recv : const_cast<void*>(block), counts[r], nccl_type(type), ncclSum, r, comm_, s));
      displ += counts[r];
    }
    NCCL_CHECK(ncclGroupEnd());
  });
}

Request NcclCommunicator::all_gather_impl(const void* send, void* recv, std::size_t send_count,
                                          std::size_t recv_count, DataType type, bool blocking) {
  if (!on_device(recv, recv_count)) return mpi_->all_gather_impl(send, recv, send_count, recv_count, type, blocking);
  check_same_side(true, send, send_count, "all_gather");
  STRATA_CHECK(recv_count == send_count * size(), internal, "all_gather: the output holds ", recv_count,
               " elements, expected size() * input = ", size(), " * ", send_count);
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclAllGather(send, recv, send_count, nccl_type(type), comm_, s));
  });
}

Request NcclCommunicator::all_gatherv_impl(const void* send, std::size_t send_count, void* recv,
                                           std::size_t recv_count, std::span<const std::size_t> counts,
                                           DataType type, bool blocking) {
  if (!on_device(recv, recv_count))
    return mpi_->all_gatherv_impl(send, send_count, recv, recv_count, counts, type, blocking);
  check_same_side(true, send, send_count, "all_gatherv");
  STRATA_CHECK(counts.size() == static_cast<std::size_t>(size()) && counts[rank()] == send_count &&
                   std::accumulate(counts.begin(), counts.end(), std::size_t{0}) == recv_count,
               internal, "all_gatherv: counts do not match the buffers (", counts.size(), " counts, input ",
               send_count, ", output ", recv_count, ")");
  const std::size_t es = data_type_size(type);
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclGroupStart());
    std::size_t displ = 0;
    for (int r = 0; r < size(); ++r) {
      void* block = static_cast<char*>(recv) + displ * es;
      NCCL_CHECK(ncclBroadcast(r == rank() ? send : block, block, counts[r], nccl_type(type), r, comm_, s));
      displ += counts[r];
    }
    NCCL_CHECK(ncclGroupEnd());
  });
}

Request NcclCommunicator::broadcast_impl(void* data, std::size_t n, DataType type, int root, bool blocking) {
  if (!on_device(data, n)) return mpi_->broadcast_impl(data, n, type, root, blocking);
  STRATA_CHECK(root >= 0 && root < size(), internal, "broadcast: root ", root, " outside the group [0, ", size(), ")");
  return enqueue(blocking, [&](cudaStream_t s) {
    NCCL_CHECK(ncclBroadcast(data, data, n, nccl_type(type), root, comm_, s));
  });
}

Request NcclCommunicator::send_impl(const void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) {
  if (!on_device(data, n)) return mpi_->send_impl(data, n, type, peer, tag, blocking);
  auto staged = std::make_unique<StagedRequest>();
  staged->host.resize(n * data_type_size(type));
  STRATA_CUDA_CHECK(cudaMemcpyAsync(staged->host.data(), data, staged->host.size(), cudaMemcpyDeviceToHost,
                                    streams_.compute));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(streams_.compute));
  staged->mpi = mpi_->send_impl(staged->host.data(), n, type, peer, tag, blocking);
  if (blocking) return Request();
  return Request(std::move(staged));
}

Request NcclCommunicator::recv_impl(void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) {
  if (!on_device(data, n)) return mpi_->recv_impl(data, n, type, peer, tag, blocking);
  auto staged = std::make_unique<StagedRequest>();
  staged->host.resize(n * data_type_size(type));
  staged->device_dst = data;
  staged->compute = streams_.compute;
  staged->mpi = mpi_->recv_impl(staged->host.data(), n, type, peer, tag, blocking);
  if (blocking) {
    staged->wait();
    return Request();
  }
  return Request(std::move(staged));
}

void NcclCommunicator::barrier_impl() {
  STRATA_CUDA_CHECK(cudaStreamSynchronize(streams_.comm));
  mpi_->barrier_impl();
}

ParallelGroups make_nccl_groups(const Topology& topology, Backend& backend, MPI_Comm world) {
  const cuda::Streams streams = cuda::streams_of(backend);
  return make_groups_over_mpi(topology, world, [&](std::unique_ptr<MpiCommunicator> mpi) {
    return std::unique_ptr<Communicator>(std::make_unique<NcclCommunicator>(std::move(mpi), streams));
  });
}

}  // namespace strata
