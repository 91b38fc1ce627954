// test_requests_and_counters.cpp — non-blocking operations in flight together (on one group and on
// several), Request semantics (move-only, waits when dropped), byte counters against their closed
// forms, and misuse reported as Error(internal) identically on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/error.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata::test {
namespace {

constexpr std::int64_t triangle(std::int64_t n) { return n * (n + 1) / 2; }

// Start two reductions on the data group and a reduce-scatter on the tensor group and an all-gather
// on the model group, compute while they are in flight, poll with test(), then wait for all.
TEST(MpiNonBlocking, OverlappingOperations) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& data = g.data();
    Communicator& tensor = g.tensor();
    Communicator& model = g.model();
    const int D = data.size(), T = tensor.size(), M = model.size();
    const int c = 1001;
    std::vector<float> a(c), b(c);
    for (int i = 0; i < c; ++i) {
      a[i] = static_cast<float>((data.rank() + 1) * (i + 1));
      b[i] = static_cast<float>(data.rank() == i % D ? 10000 + i : 0);
    }
    std::vector<double> rs_in(static_cast<size_t>(T) * 7), rs_out(7);
    for (int k = 0; k < T * 7; ++k) rs_in[k] = (tensor.rank() + 1) * (k + 1);
    std::vector<std::int64_t> ag_in = {world_rank(), model.rank()}, ag_out(2 * static_cast<size_t>(M), -1);

    Request ra = data.iall_reduce(a, ReduceOp::sum);
    Request rb = data.iall_reduce(b, ReduceOp::max);
    Request rs = tensor.ireduce_scatter(rs_in, rs_out);
    Request ag = model.iall_gather(ag_in, ag_out);

    double work = 0;  // independent computation overlapping the communication
    for (int i = 1; i <= 100000; ++i) work += std::sqrt(static_cast<double>(i));
    EXPECT_GT(work, 0.0);
    bool done = false;
    for (long polls = 0; !done; ++polls) {
      done = ra.test() & rb.test() & rs.test() & ag.test();  // no short-circuit: poll every request
      ASSERT_LT(polls, 100000000L) << "non-blocking operations never completed";
    }
    EXPECT_FALSE(ra.pending() || rb.pending() || rs.pending() || ag.pending());
    ra.wait();  // complete requests: no-ops
    rb.wait();

    for (int i = 0; i < c; ++i) {
      ASSERT_EQ(a[i], static_cast<float>((i + 1) * triangle(D)));
      ASSERT_EQ(b[i], static_cast<float>(10000 + i));
    }
    for (int j = 0; j < 7; ++j) ASSERT_EQ(rs_out[j], static_cast<double>((tensor.rank() * 7 + j + 1) * triangle(T)));
    const std::vector<int> members = g.topology().model_group();
    for (int s = 0; s < M; ++s) {
      ASSERT_EQ(ag_out[2 * s], members[s]);
      ASSERT_EQ(ag_out[2 * s + 1], s);
    }
  });
}

// Several requests in flight on one communicator, completed in reverse order of starting.
TEST(MpiNonBlocking, ManyInFlightOnOneGroupCompletedInReverse) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& comm = g.tensor();
    const int n = comm.size();
    std::vector<std::vector<double>> bufs(5, std::vector<double>(7));
    std::vector<Request> reqs;
    for (int k = 0; k < 5; ++k) {
      for (int i = 0; i < 7; ++i) bufs[k][i] = (comm.rank() + 1) * (k + 1) * (i + 1);
      reqs.push_back(comm.iall_reduce(bufs[k]));
    }
    for (int k = 4; k >= 0; --k) reqs[k].wait();
    for (int k = 0; k < 5; ++k)
      for (int i = 0; i < 7; ++i) ASSERT_EQ(bufs[k][i], static_cast<double>((k + 1) * (i + 1) * triangle(n)));
  });
}

TEST(MpiRequest, DefaultIsCompleteMoveTransfersDropWaits) {
  Request empty;
  EXPECT_FALSE(empty.pending());
  EXPECT_TRUE(empty.test());
  empty.wait();

  auto world = MpiCommunicator::duplicate(MPI_COMM_WORLD);
  const int n = world->size();
  std::vector<std::int64_t> x = {world->rank() + 1, 1};
  {
    Request a = world->iall_reduce(x);
    Request b = std::move(a);
    EXPECT_FALSE(a.pending());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_TRUE(b.pending() || b.test());
  }  // b is dropped without wait(): the destructor completes it
  EXPECT_EQ(x[0], triangle(n));
  EXPECT_EQ(x[1], n);

  std::vector<std::int64_t> y = {1}, z = {2};
  Request r = world->iall_reduce(y);
  r = world->iall_reduce(z);  // overwriting a pending request completes it first
  r.wait();
  EXPECT_EQ(y[0], n);
  EXPECT_EQ(z[0], 2 * n);
}

// Counters: per operation calls and payload bytes as communicator.h defines them.
TEST(MpiCounters, BytesMatchClosedForm) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      Communicator& comm = ref.comm;
      comm.reset_stats();
      const std::uint64_t n = comm.size();
      for (std::uint64_t c : {1u, 7u, 1001u}) {
        comm.reset_stats();
        std::vector<float> f(c);
        std::vector<double> d(n * c), d_out(c);
        std::vector<std::int32_t> i_in(c), i_out(n * c);
        comm.all_reduce(f);
        comm.iall_reduce(f, ReduceOp::max).wait();
        comm.reduce_scatter(d, d_out);
        comm.all_gather(i_in, i_out);
        std::vector<std::size_t> counts(n);
        for (std::uint64_t s = 0; s < n; ++s) counts[s] = c + s;
        std::vector<double> v_in(c + comm.rank()), v_out(n * c + n * (n - 1) / 2);
        comm.iall_gatherv(v_in, v_out, counts).wait();
        std::vector<float> rv_in(n * c + n * (n - 1) / 2), rv_out(c + comm.rank());
        comm.ireduce_scatterv(rv_in, rv_out, counts).wait();
        comm.broadcast(f, static_cast<int>(n - 1));
        std::vector<float> f_in(c);
        comm.send_recv(f, static_cast<int>((comm.rank() + 1) % n), f_in, static_cast<int>((comm.rank() + n - 1) % n));
        comm.barrier();
        comm.barrier();

        const CommStats& st = comm.stats();
        EXPECT_EQ(st[CommOp::all_reduce].calls, 2u);
        EXPECT_EQ(st[CommOp::all_reduce].bytes, 2 * c * 4);
        EXPECT_EQ(st[CommOp::reduce_scatter].calls, 2u);
        EXPECT_EQ(st[CommOp::reduce_scatter].bytes, n * c * 8 + (n * c + n * (n - 1) / 2) * 4);
        EXPECT_EQ(st[CommOp::all_gather].calls, 2u);
        EXPECT_EQ(st[CommOp::all_gather].bytes, n * c * 4 + (n * c + n * (n - 1) / 2) * 8);
        EXPECT_EQ(st[CommOp::broadcast].calls, 1u);
        EXPECT_EQ(st[CommOp::broadcast].bytes, c * 4);
        EXPECT_EQ(st[CommOp::send].calls, 1u);
        EXPECT_EQ(st[CommOp::send].bytes, c * 4);
        EXPECT_EQ(st[CommOp::recv].calls, 1u);
        EXPECT_EQ(st[CommOp::recv].bytes, c * 4);
        EXPECT_EQ(st[CommOp::barrier].calls, 2u);
        EXPECT_EQ(st[CommOp::barrier].bytes, 0u);
        EXPECT_EQ(st.total_calls(), 11u);
        EXPECT_EQ(st.total_bytes(), 2 * c * 4 + n * c * 8 + (n * c + n * (n - 1) / 2) * 4 + n * c * 4 +
                                        (n * c + n * (n - 1) / 2) * 8 + 3 * c * 4);
      }
    }
    // Counters are per communicator: the tensor group's traffic does not show in the data group's.
    g.reset_stats();
    std::vector<float> x(10);
    g.tensor().all_reduce(x);
    EXPECT_EQ(g.tensor().stats().total_bytes(), 40u);
    EXPECT_EQ(g.data().stats().total_bytes(), 0u);
    EXPECT_EQ(g.model().stats().total_calls(), 0u);
    g.reset_stats();
    EXPECT_EQ(g.tensor().stats().total_calls(), 0u);
  });
}

// Blocked time: polling a request with test() until it completes charges nothing; a blocking call and a
// wait() charge their (positive) duration to the communicator that made the operation, and only to it.
TEST(MpiCounters, BlockedSecondsChargeBlockingCallsAndWaitsOnly) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& data = g.data();
    g.reset_stats();
    std::vector<double> x(64, 1.0);
    Request r = data.iall_reduce(x);
    while (!r.test()) {
    }
    EXPECT_EQ(data.stats().blocked_seconds, 0.0) << "polling with test() is not blocking";
    data.all_reduce(x);
    const double after_blocking = data.stats().blocked_seconds;
    EXPECT_GT(after_blocking, 0.0);
    Request w = data.iall_reduce(x);
    w.wait();
    EXPECT_GT(data.stats().blocked_seconds, after_blocking);
    EXPECT_EQ(g.tensor().stats().blocked_seconds, 0.0) << "another group's time was charged";
    data.reset_stats();
    EXPECT_EQ(data.stats().blocked_seconds, 0.0);
  });
}

TEST(MpiCounters, BusBytesRingFactors) {
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::all_reduce, 800, 8), 1400);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::reduce_scatter, 800, 8), 700);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::all_gather, 800, 4), 600);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::broadcast, 800, 4), 800);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::send, 800, 2), 800);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::recv, 800, 2), 0);
  EXPECT_DOUBLE_EQ(bus_bytes(CommOp::all_reduce, 800, 1), 0);
}

template <class F>
void expect_internal_error(F&& f, const char* needle) {
  try {
    f();
    ADD_FAILURE() << "expected an Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mpi_communicator.cpp:"), std::string::npos) << e.what();
  }
}

// Misuse is detected before any MPI call, identically on every rank, so no rank is left waiting.
TEST(MpiErrors, MisuseThrowsInternalErrorWithLocation) {
  auto world = MpiCommunicator::duplicate(MPI_COMM_WORLD);
  const int n = world->size();
  std::vector<float> in(static_cast<size_t>(n) * 3 + 1), out(3), gathered(static_cast<size_t>(n) * 3 + 2);
  expect_internal_error([&] { world->reduce_scatter(in, out); }, "reduce_scatter");
  expect_internal_error([&] { world->all_gather(out, gathered); }, "all_gather");
  expect_internal_error([&] { world->broadcast(out, n); }, "root");
  expect_internal_error([&] { world->send(out, -1); }, "peer");
  std::vector<std::uint8_t> bytes(4);
  expect_internal_error([&] { world->all_reduce(bytes); }, "all_reduce");
  std::vector<std::size_t> counts(n + 1, 1);
  expect_internal_error([&] { world->all_gatherv(out, gathered, counts); }, "counts");
  // Overlapping buffers other than the in-place forms.
  std::vector<float> buf(static_cast<size_t>(n) * 4);
  expect_internal_error(
      [&] { world->all_gather(std::span<const float>(buf).subspan(1, 2), std::span<float>(buf).first(2 * n)); },
      "overlaps");
  // A topology for another world.
  const Topology other(2 * n, world->rank(), 1, 1);
  expect_internal_error([&] { make_mpi_groups(other); }, "topology");
}

}  // namespace
}  // namespace strata::test
