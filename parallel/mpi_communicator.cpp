// mpi_communicator.cpp — see mpi_communicator.h.
#include "parallel/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <utility>
#include <vector>

#include "kernels/error.h"
#include "parallel/mpi_env.h"

namespace strata {

namespace {

// Largest element count of one MPI call when a buffer is split into chunks.
constexpr std::size_t kChunk = std::size_t{1} << 30;

MPI_Datatype mpi_type(DataType type) {
  switch (type) {
    case DataType::f32: return MPI_FLOAT;
    case DataType::f64: return MPI_DOUBLE;
    case DataType::i32: return MPI_INT32_T;
    case DataType::i64: return MPI_INT64_T;
    case DataType::u8: return MPI_UINT8_T;
  }
  STRATA_THROW(internal, "unknown communicator data type ", static_cast<int>(type));
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::sum ? MPI_SUM : MPI_MAX; }

void check_reducible(DataType type, const char* what) {
  STRATA_CHECK(type != DataType::u8, internal, what, " reduces f32, f64, i32 or i64 elements, got ",
               data_type_name(type));
}

int to_int(std::size_t n, const char* what) {
  STRATA_CHECK(n <= static_cast<std::size_t>(INT_MAX), internal, what, ": ", n,
               " elements exceed MPI's int count; split the call into pieces below 2^31 elements");
  return static_cast<int>(n);
}

bool overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return a_bytes > 0 && b_bytes > 0 && x < y + b_bytes && y < x + a_bytes;
}

const char* at(const void* base, std::size_t elements, std::size_t element_size) {
  return static_cast<const char*>(base) + elements * element_size;
}

// Calls f(first element, count) for each piece of at most kChunk elements; once for n == 0.
template <class F>
void for_each_chunk(std::size_t n, F&& f) {
  std::size_t done = 0;
  do {
    const std::size_t c = std::min(kChunk, n - done);
    f(done, static_cast<int>(c));
    done += c;
  } while (done < n);
}

// A pending MPI operation: its requests, the storage MPI reads until completion (counts and
// displacements of a v-collective) and an action to finish the operation locally once complete.
class MpiRequest final : public RequestImpl {
 public:
  std::vector<MPI_Request> requests;
  std::vector<int> counts, displs;
  std::function<void()> on_complete;

  void wait() override {
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    finish();
  }
  bool test() override {
    int done = 0;
    MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE));
    if (done) finish();
    return done != 0;
  }

 private:
  void finish() {
    if (on_complete) std::exchange(on_complete, nullptr)();
  }
};

// Request for a blocking call (already complete) or a pending one.
Request make_request(std::unique_ptr<MpiRequest> pending) { return pending ? Request(std::move(pending)) : Request(); }

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  STRATA_CHECK(comm != MPI_COMM_NULL, internal, "MpiCommunicator needs a communicator, got MPI_COMM_NULL");
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::split(MPI_Comm parent, int color, int key) {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(parent, color, key, &comm));
  if (comm == MPI_COMM_NULL) return nullptr;
  return std::make_unique<MpiCommunicator>(comm);
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::duplicate(MPI_Comm parent) {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(parent, &comm));
  return std::make_unique<MpiCommunicator>(comm);
}

Request MpiCommunicator::all_reduce_impl(void* data, std::size_t n, DataType type, ReduceOp op, bool blocking) {
  check_reducible(type, "all_reduce");
  const std::size_t es = data_type_size(type);
  auto pending = blocking ? nullptr : std::make_unique<MpiRequest>();
  for_each_chunk(n, [&](std::size_t first, int c) {
    void* p = static_cast<char*>(data) + first * es;
    if (blocking) {
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, c, mpi_type(type), mpi_op(op), comm_));
    } else {
      pending->requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, p, c, mpi_type(type), mpi_op(op), comm_, &pending->requests.back()));
    }
  });
  return make_request(std::move(pending));
}

Request MpiCommunicator::reduce_scatter_impl(const void* send, void* recv, std::size_t send_count,
                                             std::size_t recv_count, DataType type, bool blocking) {
  check_reducible(type, "reduce_scatter");
  STRATA_CHECK(send_count == recv_count * size_, internal, "reduce_scatter: the input holds ", send_count,
               " elements, expected size() * output = ", size_, " * ", recv_count);
  const int c = to_int(recv_count, "reduce_scatter block");
  const std::size_t es = data_type_size(type);
  // In place (NCCL convention): the output is this rank's block of the input. MPI's in-place form
  // leaves the result at the start of the buffer instead, so move it to the block afterwards.
  const bool in_place = recv_count > 0 && recv == at(send, rank_ * recv_count, es);
  STRATA_CHECK(in_place || !overlap(send, send_count * es, recv, recv_count * es), internal,
               "reduce_scatter: output overlaps the input other than as this rank's block");
  void* full = const_cast<void*>(send);  // written only in place, where the caller passed it as output
  std::function<void()> move_result;
  if (in_place && rank_ != 0)
    move_result = [full, recv, bytes = recv_count * es] { std::memmove(recv, full, bytes); };
  const void* sbuf = in_place ? MPI_IN_PLACE : send;
  void* rbuf = in_place ? full : recv;
  if (blocking) {
    MPI_CHECK(MPI_Reduce_scatter_block(sbuf, rbuf, c, mpi_type(type), MPI_SUM, comm_));
    if (move_result) move_result();
    return Request();
  }
  auto pending = std::make_unique<MpiRequest>();
  pending->requests.push_back(MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Ireduce_scatter_block(sbuf, rbuf, c, mpi_type(type), MPI_SUM, comm_, &pending->requests[0]));
  pending->on_complete = std::move(move_result);
  return make_request(std::move(pending));
}

Request MpiCommunicator::reduce_scatterv_impl(const void* send, std::size_t send_count, void* recv,
                                              std::size_t recv_count, std::span<const std::size_t> counts,
                                              DataType type, bool blocking) {
  check_reducible(type, "reduce_scatterv");
  STRATA_CHECK(counts.size() == static_cast<std::size_t>(size_), internal, "reduce_scatterv: ", counts.size(),
               " counts given, expected one per rank (", size_, ")");
  STRATA_CHECK(counts[rank_] == recv_count, internal, "reduce_scatterv: this rank's output holds ", recv_count,
               " elements but counts[", rank_, "] = ", counts[rank_]);
  const std::size_t total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
  STRATA_CHECK(send_count == total, internal, "reduce_scatterv: the input holds ", send_count,
               " elements, expected the sum of counts ", total);
  to_int(total, "reduce_scatterv input");
  const std::size_t es = data_type_size(type);
  STRATA_CHECK(!overlap(send, send_count * es, recv, recv_count * es), internal,
               "reduce_scatterv: the output overlaps the input (no in-place form)");
  auto pending = std::make_unique<MpiRequest>();
  pending->counts.resize(size_);
  for (int r = 0; r < size_; ++r) pending->counts[r] = static_cast<int>(counts[r]);
  if (blocking) {
    MPI_CHECK(MPI_Reduce_scatter(send, recv, pending->counts.data(), mpi_type(type), MPI_SUM, comm_));
    return Request();
  }
  pending->requests.push_back(MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Ireduce_scatter(send, recv, pending->counts.data(), mpi_type(type), MPI_SUM, comm_,
                                &pending->requests[0]));
  return make_request(std::move(pending));
}

Request MpiCommunicator::all_gather_impl(const void* send, void* recv, std::size_t send_count, std::size_t recv_count,
                                         DataType type, bool blocking) {
  STRATA_CHECK(recv_count == send_count * size_, internal, "all_gather: the output holds ", recv_count,
               " elements, expected size() * input = ", size_, " * ", send_count);
  const int c = to_int(send_count, "all_gather block");
  to_int(recv_count, "all_gather output");
  const std::size_t es = data_type_size(type);
  const bool in_place = send_count > 0 && send == at(recv, rank_ * send_count, es);
  STRATA_CHECK(in_place || !overlap(send, send_count * es, recv, recv_count * es), internal,
               "all_gather: input overlaps the output other than as this rank's block");
  const void* sbuf = in_place ? MPI_IN_PLACE : send;
  const int scount = in_place ? 0 : c;
  const MPI_Datatype stype = in_place ? MPI_DATATYPE_NULL : mpi_type(type);
  if (blocking) {
    MPI_CHECK(MPI_Allgather(sbuf, scount, stype, recv, c, mpi_type(type), comm_));
    return Request();
  }
  auto pending = std::make_unique<MpiRequest>();
  pending->requests.push_back(MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Iallgather(sbuf, scount, stype, recv, c, mpi_type(type), comm_, &pending->requests[0]));
  return make_request(std::move(pending));
}

Request MpiCommunicator::all_gatherv_impl(const void* send, std::size_t send_count, void* recv, std::size_t recv_count,
                                          std::span<const std::size_t> counts, DataType type, bool blocking) {
  STRATA_CHECK(counts.size() == static_cast<std::size_t>(size_), internal, "all_gatherv: ", counts.size(),
               " counts given, expected one per rank (", size_, ")");
  STRATA_CHECK(counts[rank_] == send_count, internal, "all_gatherv: this rank's input holds ", send_count,
               " elements but counts[", rank_, "] = ", counts[rank_]);
  const std::size_t total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
  STRATA_CHECK(recv_count == total, internal, "all_gatherv: the output holds ", recv_count,
               " elements, expected the sum of counts ", total);
  to_int(total, "all_gatherv output");
  auto pending = std::make_unique<MpiRequest>();
  pending->counts.resize(size_);
  pending->displs.resize(size_);
  for (int r = 0, d = 0; r < size_; d += pending->counts[r], ++r) {
    pending->counts[r] = static_cast<int>(counts[r]);
    pending->displs[r] = d;
  }
  const std::size_t es = data_type_size(type);
  const bool in_place = send_count > 0 && send == at(recv, pending->displs[rank_], es);
  STRATA_CHECK(in_place || !overlap(send, send_count * es, recv, recv_count * es), internal,
               "all_gatherv: input overlaps the output other than as this rank's block");
  const void* sbuf = in_place ? MPI_IN_PLACE : send;
  const int scount = in_place ? 0 : static_cast<int>(send_count);
  const MPI_Datatype stype = in_place ? MPI_DATATYPE_NULL : mpi_type(type);
  if (blocking) {
    MPI_CHECK(MPI_Allgatherv(sbuf, scount, stype, recv, pending->counts.data(), pending->displs.data(),
                             mpi_type(type), comm_));
    return Request();
  }
  pending->requests.push_back(MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Iallgatherv(sbuf, scount, stype, recv, pending->counts.data(), pending->displs.data(),
                            mpi_type(type), comm_, &pending->requests[0]));
  return make_request(std::move(pending));
}

Request MpiCommunicator::broadcast_impl(void* data, std::size_t n, DataType type, int root, bool blocking) {
  STRATA_CHECK(root >= 0 && root < size_, internal, "broadcast: root ", root, " outside the group [0, ", size_, ")");
  const std::size_t es = data_type_size(type);
  auto pending = blocking ? nullptr : std::make_unique<MpiRequest>();
  for_each_chunk(n, [&](std::size_t first, int c) {
    void* p = static_cast<char*>(data) + first * es;
    if (blocking) {
      MPI_CHECK(MPI_Bcast(p, c, mpi_type(type), root, comm_));
    } else {
      pending->requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Ibcast(p, c, mpi_type(type), root, comm_, &pending->requests.back()));
    }
  });
  return make_request(std::move(pending));
}

void MpiCommunicator::check_peer_and_tag(const char* what, int peer, int tag) const {
  STRATA_CHECK(peer >= 0 && peer < size_, internal, what, ": peer ", peer, " outside the group [0, ", size_, ")");
  STRATA_CHECK(tag >= 0 && tag <= kMaxTag, internal, what, ": tag ", tag, " outside [0, ", kMaxTag, "]");
}

Request MpiCommunicator::send_impl(const void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) {
  check_peer_and_tag("send", peer, tag);
  const std::size_t es = data_type_size(type);
  auto pending = blocking ? nullptr : std::make_unique<MpiRequest>();
  for_each_chunk(n, [&](std::size_t first, int c) {
    const void* p = at(data, first, es);
    if (blocking) {
      MPI_CHECK(MPI_Send(p, c, mpi_type(type), peer, tag, comm_));
    } else {
      pending->requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Isend(p, c, mpi_type(type), peer, tag, comm_, &pending->requests.back()));
    }
  });
  return make_request(std::move(pending));
}

Request MpiCommunicator::recv_impl(void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) {
  check_peer_and_tag("recv", peer, tag);
  const std::size_t es = data_type_size(type);
  auto pending = blocking ? nullptr : std::make_unique<MpiRequest>();
  for_each_chunk(n, [&](std::size_t first, int c) {
    void* p = static_cast<char*>(data) + first * es;
    if (blocking) {
      MPI_CHECK(MPI_Recv(p, c, mpi_type(type), peer, tag, comm_, MPI_STATUS_IGNORE));
    } else {
      pending->requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Irecv(p, c, mpi_type(type), peer, tag, comm_, &pending->requests.back()));
    }
  });
  return make_request(std::move(pending));
}

void MpiCommunicator::barrier_impl() { MPI_CHECK(MPI_Barrier(comm_)); }

ParallelGroups make_mpi_groups(const Topology& topology, MPI_Comm world) {
  return make_groups_over_mpi(topology, world, [](std::unique_ptr<MpiCommunicator> comm) {
    return std::unique_ptr<Communicator>(std::move(comm));
  });
}

ParallelGroups make_groups_over_mpi(const Topology& topology, MPI_Comm world, const MpiCommWrapper& wrap) {
  int world_size = 0, world_rank = 0;
  MPI_CHECK(MPI_Comm_size(world, &world_size));
  MPI_CHECK(MPI_Comm_rank(world, &world_rank));
  STRATA_CHECK(world_size == topology.world_size() && world_rank == topology.rank(), internal,
               "the topology is for rank ", topology.rank(), " of ", topology.world_size(),
               " but this process is rank ", world_rank, " of ", world_size);
  const Coord c = topology.coord();
  // Color: the group's member with coordinate 0 along the axis (unique per group); key: the
  // coordinate, so that the group rank equals it.
  auto split_axis = [&](Axis axis) {
    const int color = topology.rank() - c[axis] * topology.stride(axis);
    auto comm = MpiCommunicator::split(world, color, c[axis]);
    STRATA_CHECK(comm->size() == topology.size(axis) && comm->rank() == c[axis], internal, "MPI_Comm_split gave ",
                 axis_name(axis), " group rank ", comm->rank(), " of ", comm->size(), ", expected ", c[axis], " of ",
                 topology.size(axis));
    return comm;
  };
  auto tensor = split_axis(Axis::tensor);
  auto data = split_axis(Axis::data);
  auto pipeline = split_axis(Axis::pipeline);
  auto model = MpiCommunicator::split(world, c.dp, c.tp + topology.tensor_size() * c.pp);
  const bool on_edge = topology.is_first_stage() || topology.is_last_stage();
  auto embedding = MpiCommunicator::split(world, on_edge ? topology.rank_of(Coord{c.tp, c.dp, 0}) : MPI_UNDEFINED,
                                          c.pp == 0 ? 0 : 1);
  STRATA_CHECK(static_cast<std::size_t>(model->size()) == topology.model_group().size() &&
                   (embedding ? static_cast<std::size_t>(embedding->size()) : 0) == topology.embedding_group().size(),
               internal, "MPI_Comm_split gave model / embedding groups that differ from the topology");
  // Wrapped in one fixed order on every rank (a wrapper may be collective over each group, e.g. NCCL
  // initialization); the embedding group, which middle stages lack, comes last.
  std::unique_ptr<Communicator> w_tensor = wrap(std::move(tensor));
  std::unique_ptr<Communicator> w_data = wrap(std::move(data));
  std::unique_ptr<Communicator> w_pipeline = wrap(std::move(pipeline));
  std::unique_ptr<Communicator> w_model = wrap(std::move(model));
  std::unique_ptr<Communicator> w_embedding = embedding ? wrap(std::move(embedding)) : nullptr;
  MPI_Comm io = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(world, &io));
  MPI_Comm_set_errhandler(io, MPI_ERRORS_RETURN);
  return ParallelGroups(topology, std::move(w_tensor), std::move(w_data), std::move(w_pipeline), std::move(w_model),
                        std::move(w_embedding), io);
}

}  // namespace strata
