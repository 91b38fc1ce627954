// abort_lone_failure.h — how a rank that leaves a multi-rank job with an error keeps the other ranks from
// hanging: it waits, up to a deadline, for every rank to be leaving too (a non-blocking barrier on a
// communicator of its own); when they all are (an error every rank detected, e.g. a bad configuration
// value or an agreed checkpoint error), MPI finalizes normally and each rank returns its own exit code;
// when some rank is not (it waits in a collective the failed rank will never join), the failed rank
// aborts the whole job: MPI_Abort(MPI_COMM_WORLD, code), and the launcher ends every rank and exits with
// `code` (Open MPI 4.1's mpirun: `code`; see docs/jobs.md).
#pragma once

#include <mpi.h>

#include <string>

namespace strata {

// Seconds a failing rank waits for the others: STRATA_ERROR_EXIT_SECONDS when set to a number >= 0, else
// 30 (ranks that all fail unwind their stacks — free memory, join a checkpoint writer — at different
// speeds, so the deadline is generous; a lone failure then ends the job 30 s later instead of never).
double error_exit_seconds();

class LoneFailureGuard {
 public:
  // Collective over MPI_COMM_WORLD (every rank, right after MPI start-up): duplicates it, so that the
  // barrier can match nothing but itself whatever the program's collectives are doing.
  LoneFailureGuard();
  ~LoneFailureGuard();
  LoneFailureGuard(const LoneFailureGuard&) = delete;
  LoneFailureGuard& operator=(const LoneFailureGuard&) = delete;

  // This rank is leaving: true when every rank of the world has called this within `seconds` (the
  // barrier completed), false when not. A later call continues the same barrier (one per guard).
  bool all_ranks_leaving(double seconds);

  // The error exit of a rank under MPI with more than one rank: returns when every rank is leaving
  // within error_exit_seconds(); otherwise prints "<who>leaving alone with exit code C: aborting the
  // job" (who: e.g. "strata-train: rank 2: ") and aborts every rank with `code` (does not return).
  void leave_with_error(int code, const std::string& who);

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Request barrier_ = MPI_REQUEST_NULL;
  bool done_ = false;  // the barrier completed
};

}  // namespace strata
