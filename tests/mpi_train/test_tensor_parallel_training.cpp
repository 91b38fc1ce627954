// Tensor-parallel training equals single-rank training (Megatron tensor parallelism, src/gpt_model.h):
// tensor 2 (2 ranks), tensor 2 x data 2 with ZeRO-1 and with ZeRO-2 (4 ranks), tensor 4 (4 ranks, one
// head per rank, three vocabulary slices of padding only) and tensor 2 with full recompute (2 ranks) train 10 steps of
// a small model on the same samples with the same seed as the single-rank run, which every rank computes
// itself. Per-step losses must agree within 1e-5 relative, gradient norms within 1e-4 relative, and the
// final parameters, reassembled from the tensor ranks' slices with ParamLayout::full_index, within 1e-5
// absolute; replicated tensors must be bit-identical on every tensor rank. A layout whose size differs
// from the world size is skipped (ctest runs this executable on 1, 2 and 4 ranks).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"
#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::TrainRun;
using test::train_steps;
using test::reassemble;
using test::stage_partition;

struct TpLayout {
  int tensor, data, zero_stage;
  const char* recompute;
};
void PrintTo(const TpLayout& l, std::ostream* os) {
  *os << "tensor " << l.tensor << " x data " << l.data << ", ZeRO " << l.zero_stage << ", recompute " << l.recompute;
}

Config tp_config(const TpLayout& l) {
  Config c = test::small_training_config(2);  // 4 heads: tensor 4 holds one head per rank
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.zero_stage = l.zero_stage;
  c.train.recompute = l.recompute;
  return c;
}

class TensorParallelTraining : public ::testing::TestWithParam<TpLayout> {};

TEST_P(TensorParallelTraining, MatchesSingleRank) {
  const TpLayout l = GetParam();
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (world != l.tensor * l.data) GTEST_SKIP() << "needs " << l.tensor * l.data << " ranks, have " << world;
  const Config cfg = tp_config(l);
  Config ref_cfg = cfg;
  ref_cfg.train.recompute = "none";
  const TrainRun ref = train_steps(ref_cfg, nullptr);
  const Topology topo(world, rank, l.tensor, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train_steps(cfg, &groups);

  test::expect_matches_single_rank(par, reassemble(cfg, groups, par.params), ref);
  // Data replicas of the same tensor slice hold identical parameters.
  if (l.data > 1) test::expect_equal_to_data_replica0(groups, par.params);
}

INSTANTIATE_TEST_SUITE_P(Layouts, TensorParallelTraining,
                         ::testing::Values(TpLayout{2, 1, 1, "none"}, TpLayout{2, 2, 1, "none"},
                                           TpLayout{2, 2, 2, "none"}, TpLayout{4, 1, 1, "none"},
                                           TpLayout{2, 1, 1, "full"}, TpLayout{2, 1, 0, "selective"}),
                         [](const auto& p) {
                           const TpLayout& l = p.param;
                           return "tp" + std::to_string(l.tensor) + "_dp" + std::to_string(l.data) + "_zero" +
                                  std::to_string(l.zero_stage) + "_recompute_" + l.recompute;
                         });

}  // namespace
}  // namespace strata
