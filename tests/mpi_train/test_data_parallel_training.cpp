// Data-parallel training equals single-rank training (ZeRO 0, 1 and 2; ZeRO 1 and 2 with full
// recompute): every layout that fits the world size trains
// 10 steps of a small model on the same samples with the same seed; per-step losses must agree within
// 1e-5 relative, gradient norms within 1e-4, and the final parameters (gathered: every rank holds all
// of them after the ZeRO all-gather) within 1e-5 absolute. Run under mpiexec with 1, 2 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <string>

#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"
#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::TrainRun;
using test::train_steps;

Config small_config(int zero_stage, const char* recompute = "none") {
  Config c = test::small_training_config(2);
  c.train.recompute = recompute;
  c.parallel.zero_stage = zero_stage;
  return c;
}

void expect_equivalent(const TrainRun& par, const TrainRun& ref) {
  test::expect_matches_single_rank(par, par.params, ref);  // data parallelism: every rank holds all parameters
}

class DataParallelTraining : public ::testing::TestWithParam<int> {};

TEST_P(DataParallelTraining, MatchesSingleRank) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const Config cfg = small_config(GetParam());
  const TrainRun ref = train_steps(cfg, nullptr);  // every rank computes the single-rank reference itself
  const Topology topo(world, rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train_steps(cfg, &groups);
  expect_equivalent(par, ref);
  // Bytes per step in closed form: the gradients' all-reduce (4 bytes per parameter) and the loss sum
  // (8 bytes); ZeRO-1 adds the parameters' all-gather (4 bytes per parameter). ZeRO-2 reduce-scatters
  // the gradients instead (payload: the whole input, 4 bytes per parameter, one call per tensor: wte,
  // wpe, 12 per block, lnf_w and lnf_b) and sums the gradient norm's two partial sums (16 bytes).
  const uint64_t p = par.params.size() * 4;
  if (world > 1) {
    const int zero = GetParam();
    EXPECT_EQ(par.comm_bytes, zero == 0 ? p + 8 : zero == 1 ? 2 * p + 8 : 2 * p + 8 + 16);
    if (zero == 2) {
      const CommStats& st = groups.data().stats();  // the last step's, then the evaluation's loss sum
      EXPECT_EQ(st[CommOp::reduce_scatter].calls, static_cast<uint64_t>(12 * cfg.model.layers + 4));
      EXPECT_EQ(st[CommOp::reduce_scatter].bytes, p);
      EXPECT_EQ(st[CommOp::all_gather].bytes, p);
      EXPECT_EQ(st[CommOp::all_reduce].bytes, 8u + 16u + 8u);
    }
  }
  // A fraction of the reduced gradient (how much of it is timing; the value is a figure, not a test).
  EXPECT_GE(par.comm_overlap, 0.0);
  EXPECT_LE(par.comm_overlap, 1.0);
  test::expect_equal_to_data_replica0(groups, par.params);
}

INSTANTIATE_TEST_SUITE_P(ZeroStages, DataParallelTraining, ::testing::Values(0, 1, 2),
                         [](const auto& param_info) { return "zero" + std::to_string(param_info.param); });

class DataParallelTrainingRecompute : public ::testing::TestWithParam<int> {};

TEST_P(DataParallelTrainingRecompute, FullRecomputeMatchesSingleRankWithout) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const TrainRun ref = train_steps(small_config(GetParam()), nullptr);
  const Topology topo(world, rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  expect_equivalent(train_steps(small_config(GetParam(), "full"), &groups), ref);
}

INSTANTIATE_TEST_SUITE_P(ZeroStages, DataParallelTrainingRecompute, ::testing::Values(1, 2),
                         [](const auto& param_info) { return "zero" + std::to_string(param_info.param); });

}  // namespace
}  // namespace strata
