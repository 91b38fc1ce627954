// launch_report.h — the start-up log of who is who: every rank's rank, local rank and world size as
// MPI reports them (the values the program uses, so the same binary works under srun and mpirun),
// shown against the launcher's environment (SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS under srun,
// OMPI_COMM_WORLD_RANK/_LOCAL_RANK/_SIZE under mpirun) and the GPUs it was given
// (CUDA_VISIBLE_DEVICES). Disagreements are reported as warnings, never errors: MPI is the authority.
#pragma once

#include <string>
#include <vector>

namespace strata {

class MpiSession;

// One rank's view; -1 where a variable is unset or not a number.
struct RankLaunch {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  int slurm_procid = -1, slurm_localid = -1, slurm_ntasks = -1;
  int ompi_rank = -1, ompi_local_rank = -1, ompi_size = -1;
  char host[48] = {};
  char cuda_devices[48] = {};  // CUDA_VISIBLE_DEVICES, "" when unset
};

// This rank's view: MPI's numbers from `mpi`, the rest from the environment.
RankLaunch local_launch(const MpiSession& mpi);

// The report (several lines, each ending in '\n') for the views of all ranks, in rank order. The launcher
// is mpirun when OMPI_COMM_WORLD_SIZE is set on rank 0 (mpirun sets it, also inside a Slurm job, where the
// SLURM_* variables then describe the batch step, not the ranks), else srun when SLURM_PROCID is set,
// else none. Lists every rank when there are at most `max_listed`, else the first ones and every rank
// that disagrees with its launcher.
std::string describe_launch(const std::vector<RankLaunch>& ranks, const char* slurm_job, const char* restarts,
                            int max_listed = 16);

// Collective: gathers every rank's view on rank 0 and returns the report there ("" on other ranks).
std::string launch_report(const MpiSession& mpi);

}  // namespace strata
