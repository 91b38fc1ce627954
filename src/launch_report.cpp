// launch_report.cpp — see launch_report.h.
#include "src/launch_report.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "parallel/mpi_env.h"

namespace strata {
namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 ? static_cast<int>(n) : -1;
}

void copy_field(char* dst, std::size_t cap, const char* src) {
  std::snprintf(dst, cap, "%s", src != nullptr ? src : "");  // truncates long values, always terminated
}

enum class Launcher { none, srun, mpirun };

// The launcher variables that disagree with MPI on rank `r`, as "NAME=value (MPI: value)" items.
std::string mismatches(const RankLaunch& r, Launcher launcher) {
  std::ostringstream os;
  auto check = [&](const char* name, int env, int mpi) {
    if (env != mpi) os << " " << name << "=" << (env < 0 ? std::string("unset") : std::to_string(env)) << " (MPI: " << mpi << ")";
  };
  if (launcher == Launcher::srun) {
    check("SLURM_PROCID", r.slurm_procid, r.rank);
    check("SLURM_LOCALID", r.slurm_localid, r.local_rank);
    check("SLURM_NTASKS", r.slurm_ntasks, r.size);
  } else if (launcher == Launcher::mpirun) {
    check("OMPI_COMM_WORLD_RANK", r.ompi_rank, r.rank);
    check("OMPI_COMM_WORLD_LOCAL_RANK", r.ompi_local_rank, r.local_rank);
    check("OMPI_COMM_WORLD_SIZE", r.ompi_size, r.size);
  }
  return os.str();
}

std::string value(int v) { return v < 0 ? "-" : std::to_string(v); }

}  // namespace

RankLaunch local_launch(const MpiSession& mpi) {
  RankLaunch r;
  r.rank = mpi.rank();
  r.size = mpi.size();
  r.local_rank = mpi.local_rank();
  r.local_size = mpi.local_size();
  r.slurm_procid = env_int("SLURM_PROCID");
  r.slurm_localid = env_int("SLURM_LOCALID");
  r.slurm_ntasks = env_int("SLURM_NTASKS");
  r.ompi_rank = env_int("OMPI_COMM_WORLD_RANK");
  r.ompi_local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  r.ompi_size = env_int("OMPI_COMM_WORLD_SIZE");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  copy_field(r.host, sizeof(r.host), host);
  copy_field(r.cuda_devices, sizeof(r.cuda_devices), std::getenv("CUDA_VISIBLE_DEVICES"));
  return r;
}

std::string describe_launch(const std::vector<RankLaunch>& ranks, const char* slurm_job, const char* restarts,
                            int max_listed) {
  if (ranks.empty()) return "";
  const RankLaunch& r0 = ranks.front();
  const Launcher launcher = r0.ompi_size >= 0 ? Launcher::mpirun : r0.slurm_procid >= 0 ? Launcher::srun : Launcher::none;
  const char* names[] = {"none (one process)", "srun", "mpirun"};
  std::set<std::string> hosts;
  for (const RankLaunch& r : ranks) hosts.insert(r.host);
  std::ostringstream os;
  os << "launch: " << names[static_cast<int>(launcher)] << " | " << ranks.size() << " ranks on " << hosts.size()
     << (hosts.size() == 1 ? " node" : " nodes");
  if (slurm_job != nullptr && *slurm_job != '\0')
    os << " | Slurm job " << slurm_job << ", restart " << (restarts != nullptr && *restarts ? restarts : "0");
  os << "\n";
  int disagree = 0;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const RankLaunch& r = ranks[i];
    const std::string bad = mismatches(r, launcher);
    disagree += bad.empty() ? 0 : 1;
    if (static_cast<int>(i) >= max_listed && bad.empty()) continue;
    os << "launch: rank " << r.rank << "/" << r.size << " local " << r.local_rank << "/" << r.local_size << " on "
       << r.host << " | SLURM_PROCID " << value(r.slurm_procid) << " SLURM_LOCALID " << value(r.slurm_localid)
       << " SLURM_NTASKS " << value(r.slurm_ntasks) << " | OMPI_COMM_WORLD_RANK " << value(r.ompi_rank)
       << " _LOCAL_RANK " << value(r.ompi_local_rank) << " _SIZE " << value(r.ompi_size);
    if (r.cuda_devices[0] != '\0') os << " | CUDA_VISIBLE_DEVICES " << r.cuda_devices;
    if (!bad.empty()) os << " | WARNING: launcher disagrees with MPI:" << bad;
    os << "\n";
  }
  if (static_cast<int>(ranks.size()) > max_listed) os << "launch: (" << ranks.size() - max_listed << " more ranks)\n";
  if (launcher != Launcher::none)
    os << "launch: MPI rank, local rank and world " << (disagree == 0 ? "match" : "DO NOT match") << " the "
       << names[static_cast<int>(launcher)] << " variables" << (disagree == 0 ? " on every rank" : "") << "\n";
  return os.str();
}

std::string launch_report(const MpiSession& mpi) {
  const RankLaunch mine = local_launch(mpi);
  std::vector<RankLaunch> all(mpi.rank() == 0 ? mpi.size() : 0);
  MPI_CHECK(MPI_Gather(&mine, sizeof(RankLaunch), MPI_BYTE, all.data(), sizeof(RankLaunch), MPI_BYTE, 0,
                       MPI_COMM_WORLD));
  if (mpi.rank() != 0) return "";
  return describe_launch(all, std::getenv("SLURM_JOB_ID"), std::getenv("SLURM_RESTART_COUNT"));
}

}  // namespace strata
