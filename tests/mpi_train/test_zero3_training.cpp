// ZeRO-3 training equals single-rank training: data 4 (4 ranks) and tensor 2 x pipeline 2 x data 2
// (8 ranks), each without recompute and with full and selective recompute, train 10 steps of a small
// model on the same samples with the same seed as the single-rank run (which every rank computes
// itself). Per-step losses within 1e-5 relative, gradient norms within 1e-4 relative, the validation
// loss within 1e-5, and the final parameters (gathered from the shards through the model's parameter
// source, then over the model group) within 1e-5 absolute; data replicas gather identical parameters.
// Also: the memory a rank reports is its shards plus the gather and gradient buffers (less than the
// partition), a step gathers exactly the ranges the residency rules of parallel/zero3_params.h imply,
// and every micro-batch reduce-scatters its gradients (parallel/zero3_grads.h). A layout whose
// size differs from the world size is skipped; the 8-rank suite (EightRanks in its name) is the only one
// ctest runs on 8 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <ostream>
#include <string>

#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"
#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::TrainRun;
using test::train_steps;

struct Zero3Layout {
  int tensor, pipeline, data;
  const char* recompute;
};
void PrintTo(const Zero3Layout& l, std::ostream* os) {
  *os << "tensor " << l.tensor << " x pipeline " << l.pipeline << " x data " << l.data << ", recompute " << l.recompute;
}

// 4 blocks: with two block gather buffers, blocks are evicted and gathered again within a step.
Config zero3_config(const Zero3Layout& l) {
  Config c;
  c.model = {4, 32, 4, 16, 61};
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.zero_stage = 3;
  c.train.recompute = l.recompute;
  c.train.micro_batch = 2;
  c.train.global_batch = 8 * l.data;  // 4 micro-batches per data rank: several slots in flight on pipeline stages
  c.train.steps = 10;
  c.train.eval_steps = 1;
  c.train.grad_clip = 1.0;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.optim.weight_decay = 0.1;
  return c;
}

void expect_zero3_matches_single_rank(const Zero3Layout& l) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int size = l.tensor * l.pipeline * l.data;
  if (world != size) GTEST_SKIP() << "needs " << size << " ranks, have " << world;
  const Config cfg = zero3_config(l);
  const TrainRun ref = test::single_rank_reference(cfg);
  const Topology topo(world, rank, l.tensor, l.pipeline, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train_steps(cfg, &groups);
  test::expect_matches_single_rank(par, test::reassemble(cfg, groups, par.params), ref);
  test::expect_equal_to_data_replica0(groups, par.params);
}

class Zero3Training : public ::testing::TestWithParam<Zero3Layout> {};
TEST_P(Zero3Training, MatchesSingleRank) { expect_zero3_matches_single_rank(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Data4, Zero3Training,
                         ::testing::Values(Zero3Layout{1, 1, 4, "none"}, Zero3Layout{1, 1, 4, "full"},
                                           Zero3Layout{1, 1, 4, "selective"}),
                         [](const auto& p) { return std::string("dp4_recompute_") + p.param.recompute; });

class Zero3TrainingEightRanks : public ::testing::TestWithParam<Zero3Layout> {};
TEST_P(Zero3TrainingEightRanks, MatchesSingleRank) { expect_zero3_matches_single_rank(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Tp2Pp2Dp2, Zero3TrainingEightRanks,
                         ::testing::Values(Zero3Layout{2, 2, 2, "none"}, Zero3Layout{2, 2, 2, "full"},
                                           Zero3Layout{2, 2, 2, "selective"}),
                         [](const auto& p) { return std::string("tp2_pp2_dp2_recompute_") + p.param.recompute; });

// Data 4, one stage: memory in closed form, and the gathers of a step. Ranges: the embedding (0),
// blocks 1..L, the head (L+1). In a step of M micro-batches the embedding and the head are gathered
// once (their own buffers keep them), the first forward gathers the L blocks, and after that two block
// buffers keep the two blocks at the turn of each pass (the last two of a forward are the first of the
// backward, the first two of a backward the first of the next forward): each of the other 2M - 1 passes
// gathers L - 2 blocks.
TEST(Zero3TrainingData4, MemoryAndGathersFollowTheResidencyRules) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (world != 4) GTEST_SKIP() << "needs 4 ranks, have " << world;
  const Config cfg = zero3_config({1, 1, 4, "none"});
  const Topology topo(world, rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  auto be = make_cpu_backend();
  Trainer t(cfg, *be, std::make_unique<test::IndexedTokens>(cfg.model.seq_len), nullptr, 1e12, &groups);

  const ParamLayout& layout = t.model().layout();
  std::vector<ShardTensor> tensors;
  for (const ParamTensor& p : layout.tensors())
    tensors.push_back({p.offset, static_cast<std::size_t>(p.shape[0]), p.count / static_cast<std::size_t>(p.shape[0])});
  const ZeroPartition partition(std::move(tensors), 4);
  const int layers = cfg.model.layers;
  const std::size_t buffers = layout.range(0).count + 2 * layout.range(1).count + layout.range(layers + 1).count;
  const Trainer::Memory mem = t.memory();
  EXPECT_EQ(mem.params, (partition.owned(rank) + buffers) * sizeof(float));
  EXPECT_LT(mem.params, layout.total() * sizeof(float)) << "ZeRO-3 must hold less than the whole model";
  EXPECT_EQ(mem.optimizer, 2 * partition.owned(rank) * sizeof(float));
  // Gradients: the shard, a buffer per pool slot as for the parameters, and each slot's receive buffer
  // of this rank's rows of the pool's largest range.
  auto mine = [&](int i) {
    const auto [t0, t1] = partition.tensors_of(layout.range(i).offset, layout.range(i).count);
    return partition.state_before(rank, t1) - partition.state_before(rank, t0);
  };
  std::size_t block_mine = 0;
  for (int i = 1; i <= layers; ++i) block_mine = std::max(block_mine, mine(i));
  const std::size_t received = mine(0) + 2 * block_mine + mine(layers + 1);
  EXPECT_EQ(mem.grads, (buffers + received + partition.owned(rank)) * sizeof(float));
  EXPECT_LT(mem.grads, layout.total() * sizeof(float)) << "ZeRO-3 must not hold the whole gradient";
  EXPECT_TRUE(t.model().has_param_source());

  const uint64_t m = static_cast<uint64_t>(t.micro_batches()), l = static_cast<uint64_t>(layers);
  const uint64_t per_step = 2 + l + (l - 2) * (2 * m - 1);
  t.step();
  EXPECT_EQ(t.parameter_gathers(), per_step);
  groups.data().reset_stats();
  t.step();
  EXPECT_EQ(t.parameter_gathers(), 2 * per_step);
  // Every parameter is gathered at least once a step: at least the partition's bytes; every micro-batch
  // reduce-scatters the gradient of the whole partition.
  EXPECT_GE(groups.data().stats()[CommOp::all_gather].bytes, layout.total() * sizeof(float));
  EXPECT_EQ(groups.data().stats()[CommOp::reduce_scatter].bytes, m * layout.total() * sizeof(float));
}

}  // namespace
}  // namespace strata
