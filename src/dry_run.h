// dry_run.h — strata-train --dry-run --world-size N: the real partition of a configuration's layout for
// all N ranks, without MPI and without allocating the model. For every rank: its coordinates, the model
// chunks (layers, embedding, head) it holds, its parameters from the real ParamLayout of its tensor
// slice, its ZeRO shard from the real ZeroPartition over its data group, its memory (plan_memory.h on
// those real counts), and its tensor, data, pipeline and embedding groups from the real Topology.
// Layouts are checked with validate_layout (SPEC section 5), not with what this build can run, so a
// 175B layout on 4096 ranks can be checked on a laptop.
#pragma once

#include <string>
#include <vector>

#include "parallel/topology.h"
#include "src/config.h"
#include "src/plan_hardware.h"
#include "src/plan_memory.h"
#include "src/plan_model.h"

namespace strata {

struct DryRunRank {
  int rank = 0;
  Coord coord;
  std::vector<ModelChunk> chunks;
  RankCounts counts;      // params = ParamLayout totals, owned = ZeroPartition::owned(dp rank)
  int zero_pieces = 0;    // tensors (row blocks) in its ZeRO shard
  MemoryBreakdown memory;
};

struct DryRun {
  PlanLayout layout;
  GptShape shape;
  Hardware hw;
  Topology topology;
  std::vector<DryRunRank> ranks;
  double max_memory = 0;
  int max_rank = 0;
  bool fits = false;
};

// Error{config} for a layout that breaks SPEC section 5 (or the interleaving rule of check_layout).
DryRun dry_run(const Config& cfg, int world_size, const Hardware& hw);

// Summary, then one line per rank.
std::string format_dry_run(const DryRun& run);

// "[0..7]", "[0..56 step 8]", "[3]", "[]".
std::string format_group(const std::vector<int>& members);

// True when argv asks for --dry-run (strata-train then runs dry_run_main instead of starting MPI).
bool wants_dry_run(int argc, char** argv);
// strata-train --dry-run CONFIG.ini --world-size N [--hardware NAME ...] [--section.key=value ...]:
// prints the partition; exit code 2 when the layout is invalid or does not fit.
int dry_run_main(int argc, char** argv);

}  // namespace strata
