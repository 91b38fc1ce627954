// mpi_env.h — MPI start-up and shut-down for the programs, the MPI error-check macro, and the
// per-rank thread budget. Works with one rank started without mpirun (MPI singleton init).
#pragma once

#include <mpi.h>

#include <string>

#include "kernels/error.h"

// MPI_CHECK(call): throw an internal Error naming the failed call and MPI's error string.
#define MPI_CHECK(call)                                                                           \
  do {                                                                                            \
    const int strata_mpi_rc_ = (call);                                                            \
    if (strata_mpi_rc_ != MPI_SUCCESS) {                                                          \
      char strata_mpi_msg_[MPI_MAX_ERROR_STRING];                                                 \
      int strata_mpi_len_ = 0;                                                                    \
      MPI_Error_string(strata_mpi_rc_, strata_mpi_msg_, &strata_mpi_len_);                        \
      STRATA_THROW(internal, #call, " failed: ", std::string(strata_mpi_msg_, strata_mpi_len_)); \
    }                                                                                             \
  } while (0)

namespace strata {

// RAII MPI session: MPI_Init_thread in the constructor, MPI_Finalize in the destructor. It asks for
// MPI_THREAD_MULTIPLE: the main thread makes every call but one, the checkpoint writer thread's
// collective file I/O on its own communicator (src/checkpoint.h); with less, async saves write
// synchronously.
// Errors are returned (MPI_ERRORS_RETURN) so they surface as exceptions with a location.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the ranks on this node
  int local_size() const { return local_size_; }  // ranks on this node

  // Ends every rank of the job with `code` (used by main when only some ranks failed).
  [[noreturn]] static void abort(int code);

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

// Threads per rank: STRATA_NUM_THREADS or OMP_NUM_THREADS if set, else the node's cores divided by
// the ranks on that node, capped by the CPUs this process may run on (its affinity mask, when the
// launcher binds ranks), at least 1 — so that many ranks on few cores never oversubscribe.
int threads_per_rank(int local_size);

}  // namespace strata
