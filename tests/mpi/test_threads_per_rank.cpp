// test_threads_per_rank.cpp — threads_per_rank (parallel/mpi_env.h): an explicit setting wins;
// otherwise never more threads than this rank's share of the node, nor than its affinity mask holds
// (mpiexec binds ranks to single cores by default for up to 2 ranks).
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "parallel/mpi_env.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata::test {
namespace {

TEST(ThreadsPerRank, ExplicitSettingWinsElseFitsNodeShareAndAffinity) {
  MPI_Comm node = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), MPI_SUCCESS);
  int local_size = 1;
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);

  {
    ScopedEnv strata("STRATA_NUM_THREADS", "3"), omp("OMP_NUM_THREADS", "5");
    EXPECT_EQ(threads_per_rank(local_size), 3);
  }
  {
    ScopedEnv strata("STRATA_NUM_THREADS", nullptr), omp("OMP_NUM_THREADS", "5");
    EXPECT_EQ(threads_per_rank(local_size), 5);
  }
  ScopedEnv strata("STRATA_NUM_THREADS", nullptr), omp("OMP_NUM_THREADS", nullptr);
  cpu_set_t mask;
  CPU_ZERO(&mask);
  ASSERT_EQ(sched_getaffinity(0, sizeof(mask), &mask), 0);
  const int allowed = CPU_COUNT(&mask);
  const int share = static_cast<int>(std::thread::hardware_concurrency()) / local_size;
  const int n = threads_per_rank(local_size);
  EXPECT_GE(n, 1);
  EXPECT_LE(n, std::max(1, allowed));
  EXPECT_LE(n, std::max(1, share));
  EXPECT_EQ(n, std::max(1, std::min(allowed, share)));
}

}  // namespace
}  // namespace strata::test
