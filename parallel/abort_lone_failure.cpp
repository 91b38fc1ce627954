// abort_lone_failure.cpp — see abort_lone_failure.h.
#include "parallel/abort_lone_failure.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "parallel/mpi_env.h"

namespace strata {

double error_exit_seconds() {
  if (const char* v = std::getenv("STRATA_ERROR_EXIT_SECONDS")) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end != v && *end == '\0' && s >= 0) return s;
  }
  return 30.0;
}

LoneFailureGuard::LoneFailureGuard() { MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_)); }

LoneFailureGuard::~LoneFailureGuard() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // A barrier still pending means some rank never arrived: the job is being aborted, leave it be.
  if (!finalized && comm_ != MPI_COMM_NULL && barrier_ == MPI_REQUEST_NULL) MPI_Comm_free(&comm_);
}

bool LoneFailureGuard::all_ranks_leaving(double seconds) {
  if (done_) return true;
  if (barrier_ == MPI_REQUEST_NULL) MPI_CHECK(MPI_Ibarrier(comm_, &barrier_));
  // Poll, not MPI_Wait: MPI has no wait with a deadline. MPI_Test also drives this rank's progress.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int flag = 0;
    MPI_CHECK(MPI_Test(&barrier_, &flag, MPI_STATUS_IGNORE));  // completed: sets barrier_ to MPI_REQUEST_NULL
    if (flag) return done_ = true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void LoneFailureGuard::leave_with_error(int code, const std::string& who) {
  const double seconds = error_exit_seconds();
  bool all = false;
  try {
    all = all_ranks_leaving(seconds);
  } catch (const std::exception& e) {  // the barrier itself failed: abort rather than risk a hang
    std::fprintf(stderr, "%swaiting for the other ranks failed: %s\n", who.c_str(), e.what());
  }
  if (all) return;
  std::fflush(stdout);
  std::fprintf(stderr, "%sleaving alone with exit code %d (the other ranks did not stop within %g s): aborting the job\n",
               who.c_str(), code, seconds);
  std::fflush(stderr);
  MpiSession::abort(code);
}

}  // namespace strata
