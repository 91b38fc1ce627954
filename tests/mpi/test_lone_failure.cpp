// test_lone_failure.cpp — LoneFailureGuard (parallel/abort_lone_failure.h): ranks that all leave meet in
// its barrier; a rank leaving while the others are elsewhere is told so when its deadline passes (and
// the same barrier completes once they come); the wait comes from STRATA_ERROR_EXIT_SECONDS.
// The job abort itself is tested end to end (tests/e2e/lone_failure.sh).
#include <gtest/gtest.h>
#include <mpi.h>

#include "parallel/abort_lone_failure.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata::test {
namespace {

TEST(LoneFailureGuard, AllRanksLeavingMeet) {
  LoneFailureGuard guard;
  EXPECT_TRUE(guard.all_ranks_leaving(600));  // the deadline only bounds a hang; ctest's TIMEOUT too
  EXPECT_TRUE(guard.all_ranks_leaving(0));    // once met, stays met
}

TEST(LoneFailureGuard, RankLeavingAloneIsToldThenTheSameBarrierCompletes) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  LoneFailureGuard guard;
  const int last = world_size() - 1;
  // The other ranks wait in a world barrier that needs the last rank: they cannot have arrived.
  if (world_rank() == last) {
    EXPECT_FALSE(guard.all_ranks_leaving(0.05));
  }
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
  EXPECT_TRUE(guard.all_ranks_leaving(600));
}

TEST(LoneFailureGuard, WaitFromEnvironment) {
  {
    ScopedEnv unset("STRATA_ERROR_EXIT_SECONDS", nullptr);
    EXPECT_EQ(error_exit_seconds(), 30.0);
  }
  {
    ScopedEnv set("STRATA_ERROR_EXIT_SECONDS", "2.5");
    EXPECT_EQ(error_exit_seconds(), 2.5);
  }
  for (const char* bad : {"", "x", "-1", "3s"}) {
    ScopedEnv set("STRATA_ERROR_EXIT_SECONDS", bad);
    EXPECT_EQ(error_exit_seconds(), 30.0) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace strata::test
