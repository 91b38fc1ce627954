// mpi_main.cpp — main of strata_mpi_tests: every rank runs the same GoogleTest tests under MPI
// (mpiexec -n N, from CTest). Rank 0 prints the usual report; the other ranks print only their
// failures, prefixed with their rank. The exit code is non-zero on every rank when any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <vector>

namespace {

// Prints failed assertions and failed tests of a non-zero rank, prefixed with "[rank r]".
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.message());
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::fprintf(stderr, "[rank %d] [  FAILED  ] %s.%s\n", rank_, info.test_suite_name(), info.name());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "strata_mpi_tests: MPI_Init_thread failed\n");
    return 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int local = RUN_ALL_TESTS() != 0 ? 1 : 0;

  // Every rank learns which ranks failed; rank 0 names them.
  std::vector<int> failed(size, 0);
  MPI_Allgather(&local, 1, MPI_INT, failed.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int any = 0;
  for (int f : failed) any |= f;
  if (rank == 0) {
    if (any) {
      std::fprintf(stderr, "strata_mpi_tests: FAILED on rank(s)");
      for (int r = 0; r < size; ++r)
        if (failed[r]) std::fprintf(stderr, " %d", r);
      std::fprintf(stderr, " of %d\n", size);
    } else {
      std::printf("strata_mpi_tests: all tests passed on %d rank(s)\n", size);
    }
  }
  MPI_Finalize();
  return any;
}
