// communicator.h — the collective-communication interface of one process group (tensor, data,
// pipeline, model or embedding group; see topology.h), with a move-only Request for non-blocking
// operations and per-communicator byte counters. MPI implements it (mpi_communicator.h); NCCL can.
//
// Rules every backend follows:
//  - Ranks are group ranks in [0, size()); every member calls a collective with the same counts,
//    type and root, in the same order (operations are matched by order: there are no tags).
//  - Buffers are host memory for the MPI backend (device memory for a GPU backend) and must stay
//    valid, and untouched, until the operation's Request completes.
//  - In-place forms follow NCCL: reduce_scatter's output may be this rank's block of its input
//    (recv.data() == send.data() + rank() * recv.size()), all_gather's input may be this rank's
//    block of its output (send.data() == recv.data() + rank() * send.size()); all_gatherv likewise
//    at this rank's displacement. Any other overlap is an error.
//  - Reductions are deterministic for a given call site: a given (operation, blocking or not, count,
//    type, group) always takes the same algorithm. Blocking and non-blocking forms of the same
//    reduction may sum in different orders, so a call site picks one.
//  - Counters (stats()) record per operation the calls made and the payload bytes, counted by the
//    interface itself so that all backends count alike — see CommOp for what each counts.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>

namespace strata {

enum class ReduceOp { sum, max };

// Element types a communicator moves. Reductions take f32, f64, i32 and i64; u8 (raw bytes) only
// moves (all_gather, broadcast, send, recv).
enum class DataType { f32, f64, i32, i64, u8 };

inline std::size_t data_type_size(DataType type) {
  switch (type) {
    case DataType::f32: return 4;
    case DataType::f64: return 8;
    case DataType::i32: return 4;
    case DataType::i64: return 8;
    case DataType::u8: return 1;
  }
  return 0;
}
inline const char* data_type_name(DataType type) {
  switch (type) {
    case DataType::f32: return "f32";
    case DataType::f64: return "f64";
    case DataType::i32: return "i32";
    case DataType::i64: return "i64";
    case DataType::u8: return "u8";
  }
  return "?";
}

template <class T>
constexpr DataType data_type_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>) return DataType::f32;
  else if constexpr (std::is_same_v<U, double>) return DataType::f64;
  else if constexpr (std::is_same_v<U, std::int32_t>) return DataType::i32;
  else if constexpr (std::is_same_v<U, std::int64_t>) return DataType::i64;
  else if constexpr (std::is_same_v<U, std::uint8_t> || std::is_same_v<U, std::byte> || std::is_same_v<U, char>)
    return DataType::u8;
  else static_assert(sizeof(T) == 0, "unsupported communicator element type");
}

// Operation kinds for the counters. Payload bytes per call, as this rank sees them
// (nccl-tests' "size"; e = element size, n = size()):
//   all_reduce: count*e          reduce_scatter: n*recv_count*e (the whole input; reduce_scatterv: sum of
//   counts * e)
//   all_gather: n*send_count*e (the whole output; all_gatherv: sum of counts * e)
//   broadcast:  count*e (root and receivers alike)   send: count*e   recv: count*e   barrier: 0
// Non-blocking operations count when they start. bus_bytes() turns payload into ring traffic.
enum class CommOp { all_reduce, reduce_scatter, all_gather, broadcast, send, recv, barrier };
inline constexpr int kCommOpCount = 7;
inline const char* comm_op_name(CommOp op) {
  static constexpr const char* names[kCommOpCount] = {"all_reduce", "reduce_scatter", "all_gather", "broadcast",
                                                      "send", "recv", "barrier"};
  return names[static_cast<int>(op)];
}

struct CommOpStats {
  std::uint64_t calls = 0;
  std::uint64_t bytes = 0;
};

struct CommStats {
  std::array<CommOpStats, kCommOpCount> ops{};
  // Seconds this rank spent blocked on the group: whole blocking calls, and Request::wait() of the
  // non-blocking ones (polling with test() is free). With overlap done right, the non-blocking part stays
  // small; what remains is communication the computation did not hide (or a peer arriving late).
  double blocked_seconds = 0;
  const CommOpStats& operator[](CommOp op) const { return ops[static_cast<int>(op)]; }
  CommOpStats& operator[](CommOp op) { return ops[static_cast<int>(op)]; }
  std::uint64_t total_bytes() const {
    std::uint64_t t = 0;
    for (const CommOpStats& s : ops) t += s.bytes;
    return t;
  }
  std::uint64_t total_calls() const {
    std::uint64_t t = 0;
    for (const CommOpStats& s : ops) t += s.calls;
    return t;
  }
};

// Bytes each rank sends over the links for `payload_bytes` of op on n ranks with ring algorithms
// (nccl-tests' bus bandwidth factors): all_reduce 2(n-1)/n, reduce_scatter and all_gather (n-1)/n,
// broadcast and send 1, recv and barrier 0. For the planner's cost model.
inline double bus_bytes(CommOp op, double payload_bytes, int n) {
  if (n <= 1) return op == CommOp::send ? payload_bytes : 0.0;  // a self-send still copies
  switch (op) {
    case CommOp::all_reduce: return payload_bytes * 2.0 * (n - 1) / n;
    case CommOp::reduce_scatter:
    case CommOp::all_gather: return payload_bytes * (n - 1) / n;
    case CommOp::broadcast:
    case CommOp::send: return payload_bytes;
    case CommOp::recv:
    case CommOp::barrier: return 0.0;
  }
  return 0.0;
}

// Adds the wall time of its scope to *seconds (if not null).
class BlockedClock {
 public:
  explicit BlockedClock(double* seconds) : seconds_(seconds), t0_(std::chrono::steady_clock::now()) {}
  ~BlockedClock() {
    if (seconds_) *seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  BlockedClock(const BlockedClock&) = delete;
  BlockedClock& operator=(const BlockedClock&) = delete;

 private:
  double* seconds_;
  std::chrono::steady_clock::time_point t0_;
};

// Backend side of a pending non-blocking operation.
class RequestImpl {
 public:
  virtual ~RequestImpl() = default;
  virtual void wait() = 0;  // block until complete; throws Error on failure
  virtual bool test() = 0;  // true once complete (then wait() returns at once)
};

// Handle of a non-blocking operation. Move-only. A default-constructed Request is complete.
// Destroying or overwriting a pending Request waits for it (an error there is printed to stderr,
// since a destructor cannot throw): call wait() to see errors as exceptions.
// A Request must not outlive the communicator that made it.
class Request {
 public:
  Request() = default;
  explicit Request(std::unique_ptr<RequestImpl> impl) : impl_(std::move(impl)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&& other) noexcept {
    if (this != &other) {
      wait_noexcept();
      impl_ = std::move(other.impl_);
      blocked_seconds_ = other.blocked_seconds_;
    }
    return *this;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() { wait_noexcept(); }

  // Blocks until complete; no-op when already complete. On failure throws, and the request
  // counts as complete (its buffers are in an unspecified state).
  void wait() {
    if (!impl_) return;
    std::unique_ptr<RequestImpl> impl = std::move(impl_);
    const BlockedClock clock(blocked_seconds_);
    impl->wait();
  }
  // True once complete (then buffers may be used); never blocks.
  bool test() {
    if (!impl_) return true;
    if (!impl_->test()) return false;
    impl_.reset();
    return true;
  }
  bool pending() const { return impl_ != nullptr; }
  // Adds the time later spent in wait() to *seconds (the communicator's CommStats::blocked_seconds).
  Request&& charge_waits_to(double* seconds) && {
    blocked_seconds_ = seconds;
    return std::move(*this);
  }

 private:
  void wait_noexcept() noexcept {
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "strata: error completing a communication request: %s\n", e.what());
    }
  }
  std::unique_ptr<RequestImpl> impl_;  // null once complete
  double* blocked_seconds_ = nullptr;  // where wait() time is added (may be null)
};

// A contiguous sized range of elements (vector, array, span, C array); MutableBuffer: writable.
template <class B>
concept Buffer = std::ranges::contiguous_range<B> && std::ranges::sized_range<B>;
template <class B>
concept MutableBuffer = Buffer<B> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<B>>>;

// One process group. Not copyable; owned through std::unique_ptr and passed by reference.
class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int size() const = 0;
  virtual int rank() const = 0;
  virtual std::string backend_name() const = 0;  // "mpi", "nccl"
  // True when collectives on device buffers are ordered on the device's streams (NCCL): one starts after
  // the work already queued on the backend's compute stream, and the compute stream's later work waits for
  // a blocking one (for a non-blocking one, from Request::wait()). Its caller need not synchronize the
  // backend first, which would also wait for every collective still in flight (the data-parallel buckets
  // that overlap the backward). Point-to-point transfers of device buffers, staged through host memory,
  // copy on the compute stream after its queued work as well. False (MPI): the communicator reads and
  // writes the buffers from the host, so the caller synchronizes the backend before an operation.
  virtual bool stream_ordered() const { return false; }

  // ---- typed operations ----
  // Buffers are any contiguous sized range (std::vector, std::array, std::span, C array) of float,
  // double, int32_t or int64_t; the moves (all_gather, broadcast, send, recv) also take bytes
  // (uint8_t, std::byte, char). Output buffers must be mutable; inputs may be const.

  // data <- op over the group of every rank's data, in place.
  template <MutableBuffer B> void all_reduce(B&& data, ReduceOp op = ReduceOp::sum) {
    count(CommOp::all_reduce, bytes_of(data));
    const BlockedClock clock(&stats_.blocked_seconds);
    all_reduce_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), op, true);
  }
  template <MutableBuffer B> [[nodiscard]] Request iall_reduce(B&& data, ReduceOp op = ReduceOp::sum) {
    count(CommOp::all_reduce, bytes_of(data));
    return all_reduce_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), op, false)
        .charge_waits_to(&stats_.blocked_seconds);
  }

  // recv <- block rank() of the element-wise sum of every rank's send; send.size() == size()*recv.size().
  template <Buffer S, MutableBuffer R> void reduce_scatter(const S& send, R&& recv) {
    count(CommOp::reduce_scatter, bytes_of(send));
    const BlockedClock clock(&stats_.blocked_seconds);
    reduce_scatter_impl(std::ranges::data(send), std::ranges::data(recv), std::ranges::size(send),
                        std::ranges::size(recv), same_type_of<S, R>(), true);
  }
  template <Buffer S, MutableBuffer R> [[nodiscard]] Request ireduce_scatter(const S& send, R&& recv) {
    count(CommOp::reduce_scatter, bytes_of(send));
    return reduce_scatter_impl(std::ranges::data(send), std::ranges::data(recv), std::ranges::size(send),
                               std::ranges::size(recv), same_type_of<S, R>(), false)
                                   .charge_waits_to(&stats_.blocked_seconds);
  }

  // Variable counts: recv (counts[rank()] elements) <- block rank() of the element-wise sum of every
  // rank's send, whose blocks lie in rank order with counts[r] elements each (send.size() == sum of
  // counts; every rank passes all size() counts). No in-place form: send and recv must not overlap.
  template <Buffer S, MutableBuffer R>
  void reduce_scatterv(const S& send, R&& recv, std::span<const std::size_t> counts) {
    count(CommOp::reduce_scatter, bytes_of(send));
    const BlockedClock clock(&stats_.blocked_seconds);
    reduce_scatterv_impl(std::ranges::data(send), std::ranges::size(send), std::ranges::data(recv),
                         std::ranges::size(recv), counts, same_type_of<S, R>(), true);
  }
  template <Buffer S, MutableBuffer R>
  [[nodiscard]] Request ireduce_scatterv(const S& send, R&& recv, std::span<const std::size_t> counts) {
    count(CommOp::reduce_scatter, bytes_of(send));
    return reduce_scatterv_impl(std::ranges::data(send), std::ranges::size(send), std::ranges::data(recv),
                                std::ranges::size(recv), counts, same_type_of<S, R>(), false)
                                    .charge_waits_to(&stats_.blocked_seconds);
  }

  // recv <- concatenation of every rank's send in rank order; recv.size() == size()*send.size().
  template <Buffer S, MutableBuffer R> void all_gather(const S& send, R&& recv) {
    count(CommOp::all_gather, bytes_of(recv));
    const BlockedClock clock(&stats_.blocked_seconds);
    all_gather_impl(std::ranges::data(send), std::ranges::data(recv), std::ranges::size(send),
                    std::ranges::size(recv), same_type_of<S, R>(), true);
  }
  template <Buffer S, MutableBuffer R> [[nodiscard]] Request iall_gather(const S& send, R&& recv) {
    count(CommOp::all_gather, bytes_of(recv));
    return all_gather_impl(std::ranges::data(send), std::ranges::data(recv), std::ranges::size(send),
                           std::ranges::size(recv), same_type_of<S, R>(), false)
                               .charge_waits_to(&stats_.blocked_seconds);
  }

  // Variable counts: rank r contributes counts[r] elements (every rank passes all size() counts);
  // recv (sum of counts) gets them in rank order; send.size() == counts[rank()].
  template <Buffer S, MutableBuffer R>
  void all_gatherv(const S& send, R&& recv, std::span<const std::size_t> counts) {
    count(CommOp::all_gather, bytes_of(recv));
    const BlockedClock clock(&stats_.blocked_seconds);
    all_gatherv_impl(std::ranges::data(send), std::ranges::size(send), std::ranges::data(recv),
                     std::ranges::size(recv), counts, same_type_of<S, R>(), true);
  }
  template <Buffer S, MutableBuffer R>
  [[nodiscard]] Request iall_gatherv(const S& send, R&& recv, std::span<const std::size_t> counts) {
    count(CommOp::all_gather, bytes_of(recv));
    return all_gatherv_impl(std::ranges::data(send), std::ranges::size(send), std::ranges::data(recv),
                            std::ranges::size(recv), counts, same_type_of<S, R>(), false)
                                .charge_waits_to(&stats_.blocked_seconds);
  }

  // data <- root's data (root is a group rank).
  template <MutableBuffer B> void broadcast(B&& data, int root) {
    count(CommOp::broadcast, bytes_of(data));
    const BlockedClock clock(&stats_.blocked_seconds);
    broadcast_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), root, true);
  }
  template <MutableBuffer B> [[nodiscard]] Request ibroadcast(B&& data, int root) {
    count(CommOp::broadcast, bytes_of(data));
    return broadcast_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), root, false)
        .charge_waits_to(&stats_.blocked_seconds);
  }

  // Point to point with group rank `peer`. A receive matches a send of the same tag (0 <= tag <=
  // kMaxTag); messages between two ranks with one tag arrive in the order sent, so streams of different
  // tags (e.g. a pipeline's activations and gradients between the same two ranks) never mix.
  // The blocking send may wait for the matching receive: in a ring use send_recv or isend/irecv.
  static constexpr int kMaxTag = 32767;  // the smallest MPI_TAG_UB the MPI standard allows
  template <Buffer B> void send(const B& data, int peer, int tag = 0) {
    count(CommOp::send, bytes_of(data));
    const BlockedClock clock(&stats_.blocked_seconds);
    send_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), peer, tag, true);
  }
  template <Buffer B> [[nodiscard]] Request isend(const B& data, int peer, int tag = 0) {
    count(CommOp::send, bytes_of(data));
    return send_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), peer, tag, false)
        .charge_waits_to(&stats_.blocked_seconds);
  }
  template <MutableBuffer B> void recv(B&& data, int peer, int tag = 0) {
    count(CommOp::recv, bytes_of(data));
    const BlockedClock clock(&stats_.blocked_seconds);
    recv_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), peer, tag, true);
  }
  template <MutableBuffer B> [[nodiscard]] Request irecv(B&& data, int peer, int tag = 0) {
    count(CommOp::recv, bytes_of(data));
    return recv_impl(std::ranges::data(data), std::ranges::size(data), type_of<B>(), peer, tag, false)
        .charge_waits_to(&stats_.blocked_seconds);
  }
  // Sends to `dest` and receives from `source` at once (a ring shift without deadlock).
  template <Buffer S, MutableBuffer R> void send_recv(const S& send_data, int dest, R&& recv_data, int source) {
    Request r = irecv(recv_data, source);
    Request s = isend(send_data, dest);
    r.wait();
    s.wait();
  }

  void barrier() {
    count(CommOp::barrier, 0);
    const BlockedClock clock(&stats_.blocked_seconds);
    barrier_impl();
  }

  // ---- counters ----
  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = CommStats{}; }

  // ---- backend entry points (untyped; `blocking` true returns a complete Request) ----
  // Counts are element counts. Backends validate sizes, peers, roots and overlaps and throw
  // Error(internal) on misuse or failure. They do not touch the counters.
  virtual Request all_reduce_impl(void* data, std::size_t n, DataType type, ReduceOp op, bool blocking) = 0;
  virtual Request reduce_scatter_impl(const void* send, void* recv, std::size_t send_count, std::size_t recv_count,
                                      DataType type, bool blocking) = 0;
  virtual Request reduce_scatterv_impl(const void* send, std::size_t send_count, void* recv, std::size_t recv_count,
                                       std::span<const std::size_t> counts, DataType type, bool blocking) = 0;
  virtual Request all_gather_impl(const void* send, void* recv, std::size_t send_count, std::size_t recv_count,
                                  DataType type, bool blocking) = 0;
  virtual Request all_gatherv_impl(const void* send, std::size_t send_count, void* recv, std::size_t recv_count,
                                   std::span<const std::size_t> counts, DataType type, bool blocking) = 0;
  virtual Request broadcast_impl(void* data, std::size_t n, DataType type, int root, bool blocking) = 0;
  virtual Request send_impl(const void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) = 0;
  virtual Request recv_impl(void* data, std::size_t n, DataType type, int peer, int tag, bool blocking) = 0;
  virtual void barrier_impl() = 0;

 protected:
  template <class B> static constexpr DataType type_of() {
    return data_type_of<std::remove_cv_t<std::ranges::range_value_t<B>>>();
  }
  template <class S, class R> static constexpr DataType same_type_of() {
    static_assert(std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<S>>,
                                 std::remove_cv_t<std::ranges::range_value_t<R>>>,
                  "send and receive buffers must hold the same element type");
    return type_of<R>();
  }
  template <class B> static std::size_t bytes_of(const B& b) {
    return std::ranges::size(b) * sizeof(std::ranges::range_value_t<B>);
  }
  void count(CommOp op, std::size_t bytes) {
    CommOpStats& s = stats_[op];
    s.calls += 1;
    s.bytes += bytes;
  }

 private:
  CommStats stats_;
};

}  // namespace strata
