// test_collectives.cpp — every collective of MpiCommunicator in every group of every layout that fits
// the world (tensor x pipeline dividing it, orders tp,dp,pp / dp,tp,pp / pp,dp,tp), blocking and
// non-blocking, with odd counts. Inputs are set from the group rank (and world rank), so each
// expected value has a closed form; all values are integers below 2^24, exact in float.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "tests/mpi/mpi_test_util.h"

namespace strata::test {
namespace {

// Same members, in the same order, as the topology says: all_gather the world ranks.
TEST(MpiGroups, MembersMatchTopology) {
  for_each_layout([](const ParallelGroups& g) {
    const Topology& t = g.topology();
    EXPECT_EQ(g.tensor().rank(), t.tp_rank());
    EXPECT_EQ(g.data().rank(), t.dp_rank());
    EXPECT_EQ(g.pipeline().rank(), t.pp_rank());
    EXPECT_EQ(g.model().rank(), t.tp_rank() + t.tensor_size() * t.pp_rank());
    EXPECT_EQ(g.has_embedding(), t.is_first_stage() || t.is_last_stage());
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      ASSERT_EQ(ref.comm.size(), static_cast<int>(ref.members.size()));
      EXPECT_FALSE(ref.comm.stream_ordered()) << "MPI reads host memory: callers must synchronize the backend first";
      EXPECT_EQ(ref.members[ref.comm.rank()], world_rank());
      const std::vector<std::int32_t> mine = {world_rank()};
      std::vector<std::int32_t> all(ref.comm.size(), -1);
      ref.comm.all_gather(mine, all);
      EXPECT_EQ(std::vector<int>(all.begin(), all.end()), ref.members);
    }
  });
}

template <class T>
void check_all_reduce_sum(Communicator& comm, bool blocking) {
  const int n = comm.size(), r = comm.rank();
  for (int count : kCounts) {
    std::vector<T> x(count);
    for (int i = 0; i < count; ++i) x[i] = static_cast<T>((r + 1) * (i + 1));
    if (blocking) {
      comm.all_reduce(x, ReduceOp::sum);
    } else {
      Request req = comm.iall_reduce(x, ReduceOp::sum);
      req.wait();
      EXPECT_FALSE(req.pending());
    }
    for (int i = 0; i < count; ++i) ASSERT_EQ(x[i], static_cast<T>((i + 1) * n * (n + 1) / 2)) << "i=" << i;
  }
}

// sum over r of (r+1)*(i+1) = (i+1) * n(n+1)/2.
TEST(MpiCollectives, AllReduceSum) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (bool blocking : {true, false}) {
        check_all_reduce_sum<float>(ref.comm, blocking);
        check_all_reduce_sum<double>(ref.comm, blocking);
        check_all_reduce_sum<std::int64_t>(ref.comm, blocking);
      }
    }
  });
}

// x_r[i] = (r + i) mod n: every residue appears once per element, so the max is n - 1; and
// y_r[i] = -(r+1) * (i+1), whose max is -(i+1) from rank 0.
template <class T>
void check_all_reduce_max(Communicator& comm, bool blocking) {
  const int n = comm.size(), r = comm.rank();
  for (int count : kCounts) {
    std::vector<T> x(count), y(count);
    for (int i = 0; i < count; ++i) {
      x[i] = static_cast<T>((r + i) % n);
      y[i] = static_cast<T>(-(r + 1) * (i + 1));
    }
    if (blocking) {
      comm.all_reduce(x, ReduceOp::max);
      comm.all_reduce(y, ReduceOp::max);
    } else {
      Request a = comm.iall_reduce(x, ReduceOp::max);
      Request b = comm.iall_reduce(y, ReduceOp::max);
      b.wait();
      a.wait();
    }
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(x[i], static_cast<T>(n - 1)) << "i=" << i;
      ASSERT_EQ(y[i], static_cast<T>(-(i + 1))) << "i=" << i;
    }
  }
}

TEST(MpiCollectives, AllReduceMax) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (bool blocking : {true, false}) {
        check_all_reduce_max<float>(ref.comm, blocking);
        check_all_reduce_max<double>(ref.comm, blocking);
      }
    }
  });
}

// send_r[b*c + j] = (r+1) * (b*c + j + 1)  ->  rank r gets (r*c + j + 1) * n(n+1)/2.
template <class T>
void check_reduce_scatter(Communicator& comm, bool blocking, bool in_place) {
  const int n = comm.size(), r = comm.rank();
  for (int c : kCounts) {
    std::vector<T> send(static_cast<size_t>(n) * c), separate(c);
    for (int k = 0; k < n * c; ++k) send[k] = static_cast<T>((r + 1) * (k + 1));
    std::span<T> recv = in_place ? std::span<T>(send).subspan(static_cast<size_t>(r) * c, c) : std::span<T>(separate);
    if (blocking) {
      comm.reduce_scatter(send, recv);
    } else {
      Request req = comm.ireduce_scatter(send, recv);
      req.wait();
    }
    for (int j = 0; j < c; ++j) ASSERT_EQ(recv[j], static_cast<T>((r * c + j + 1) * n * (n + 1) / 2)) << "j=" << j;
  }
}

TEST(MpiCollectives, ReduceScatter) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (bool blocking : {true, false})
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(std::string(blocking ? "blocking" : "non-blocking") + (in_place ? " in place" : ""));
          check_reduce_scatter<float>(ref.comm, blocking, in_place);
          check_reduce_scatter<double>(ref.comm, blocking, in_place);
        }
    }
  });
}

// Rank s's block holds counts[s] = c + 3s elements (rank 0 of c = 0: none); send_r[k] = (r+1) * (k+1)
// ->  rank r gets (displs[r] + j + 1) * n(n+1)/2.
template <class T>
void check_reduce_scatterv(Communicator& comm, int c, bool blocking) {
  const int n = comm.size(), r = comm.rank();
  std::vector<std::size_t> counts(n), displs(n);
  for (int s = 0; s < n; ++s) counts[s] = static_cast<std::size_t>(c + 3 * s);
  std::exclusive_scan(counts.begin(), counts.end(), displs.begin(), std::size_t{0});
  const std::size_t total = displs[n - 1] + counts[n - 1];
  std::vector<T> send(total), recv(counts[r], T(-1));
  for (std::size_t k = 0; k < total; ++k) send[k] = static_cast<T>((r + 1) * (k + 1));
  if (blocking) {
    comm.reduce_scatterv(send, recv, counts);
  } else {
    Request req = comm.ireduce_scatterv(send, recv, counts);
    req.wait();
  }
  for (std::size_t j = 0; j < counts[r]; ++j)
    ASSERT_EQ(recv[j], static_cast<T>((displs[r] + j + 1) * n * (n + 1) / 2)) << "j=" << j;
}

TEST(MpiCollectives, ReduceScatterv) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (int c : {0, 1, 7, 1001})
        for (bool blocking : {true, false}) {
          SCOPED_TRACE(std::string(blocking ? "blocking" : "non-blocking") + " c=" + std::to_string(c));
          check_reduce_scatterv<float>(ref.comm, c, blocking);
          check_reduce_scatterv<double>(ref.comm, c, blocking);
        }
    }
  });
}

// send_r[j] = r*10000 + j  ->  recv[s*c + j] = s*10000 + j.
template <class T>
void check_all_gather(Communicator& comm, bool blocking, bool in_place) {
  const int n = comm.size(), r = comm.rank();
  for (int c : kCounts) {
    std::vector<T> recv(static_cast<size_t>(n) * c, T(-1)), separate(c);
    std::span<T> send = in_place ? std::span<T>(recv).subspan(static_cast<size_t>(r) * c, c) : std::span<T>(separate);
    for (int j = 0; j < c; ++j) send[j] = static_cast<T>(r * 10000 + j);
    if (blocking) {
      comm.all_gather(send, recv);
    } else {
      Request req = comm.iall_gather(send, recv);
      req.wait();
    }
    for (int s = 0; s < n; ++s)
      for (int j = 0; j < c; ++j) ASSERT_EQ(recv[s * c + j], static_cast<T>(s * 10000 + j)) << "s=" << s << " j=" << j;
  }
}

TEST(MpiCollectives, AllGather) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (bool blocking : {true, false})
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(std::string(blocking ? "blocking" : "non-blocking") + (in_place ? " in place" : ""));
          check_all_gather<float>(ref.comm, blocking, in_place);
          check_all_gather<std::int32_t>(ref.comm, blocking, in_place);
        }
    }
  });
}

// Rank s contributes counts[s] = c + 3s elements s*10000 + j (rank 0 of c = 1: also 0 elements).
void check_all_gatherv(Communicator& comm, int c, bool blocking, bool in_place) {
  const int n = comm.size(), r = comm.rank();
  std::vector<std::size_t> counts(n), displs(n);
  for (int s = 0; s < n; ++s) counts[s] = static_cast<std::size_t>(c + 3 * s);
  std::exclusive_scan(counts.begin(), counts.end(), displs.begin(), std::size_t{0});
  const std::size_t total = displs[n - 1] + counts[n - 1];
  std::vector<double> recv(total, -1.0), separate(counts[r]);
  std::span<double> send = in_place ? std::span<double>(recv).subspan(displs[r], counts[r]) : std::span<double>(separate);
  for (std::size_t j = 0; j < counts[r]; ++j) send[j] = r * 10000.0 + static_cast<double>(j);
  if (blocking) {
    comm.all_gatherv(send, recv, counts);
  } else {
    Request req = comm.iall_gatherv(send, recv, counts);
    req.wait();
  }
  for (int s = 0; s < n; ++s)
    for (std::size_t j = 0; j < counts[s]; ++j)
      ASSERT_EQ(recv[displs[s] + j], s * 10000.0 + static_cast<double>(j)) << "s=" << s << " j=" << j;
}

TEST(MpiCollectives, AllGatherv) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      for (int c : {0, 1, 7, 1001})
        for (bool blocking : {true, false})
          for (bool in_place : {false, true}) check_all_gatherv(ref.comm, c, blocking, in_place);
    }
  });
}

// From every root: data = root's root*1000 + i.
TEST(MpiCollectives, Broadcast) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) {
      SCOPED_TRACE(ref.name);
      Communicator& comm = ref.comm;
      for (int root = 0; root < comm.size(); ++root)
        for (int c : kCounts)
          for (bool blocking : {true, false}) {
            std::vector<float> x(c);
            for (int i = 0; i < c; ++i) x[i] = comm.rank() == root ? static_cast<float>(root * 1000 + i) : -1.f;
            if (blocking) {
              comm.broadcast(x, root);
            } else {
              Request req = comm.ibroadcast(x, root);
              req.wait();
            }
            for (int i = 0; i < c; ++i) ASSERT_EQ(x[i], static_cast<float>(root * 1000 + i)) << "root " << root;
          }
    }
  });
}

TEST(MpiCollectives, Barrier) {
  for_each_layout([](const ParallelGroups& g) {
    for (GroupRef& ref : groups_of(g)) ref.comm.barrier();
  });
}

}  // namespace
}  // namespace strata::test
