// Pipeline-parallel training equals single-rank training (1F1B, parallel/pipeline_schedule.h and
// src/pipeline_executor.h): pipeline 2 (2 ranks), pipeline 4 (4 ranks, one block per stage), pipeline 2
// x data 2 with ZeRO-1 and with ZeRO-2 (4 ranks, two micro-batches per data rank), tensor 2 x pipeline 2 (4 ranks), and
// pipeline 2 with full and with selective recompute (2 ranks) train 10 steps of a small model on the
// same samples with the same seed as the single-rank run, which every rank computes itself. Per-step
// losses must agree within 1e-5 relative, gradient norms within 1e-4 relative, the validation loss
// within 1e-5 relative, and the final parameters, gathered over the model group (every stage and
// tensor slice), within 1e-5 absolute. Every copy of a parameter must be bit-identical: the tied wte on
// the first and last stage, and tensors replicated over the tensor ranks. A layout whose size differs
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

struct PpLayout {
  int pipeline, tensor, data, zero_stage;
  const char* recompute;
};
void PrintTo(const PpLayout& l, std::ostream* os) {
  *os << "pipeline " << l.pipeline << " x tensor " << l.tensor << " x data " << l.data << ", ZeRO " << l.zero_stage
      << ", recompute " << l.recompute;
}

Config pp_config(const PpLayout& l) {
  Config c;
  c.model = {4, 32, 4, 16, 61};  // 4 layers: pipeline 4 holds one block per stage
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.zero_stage = l.zero_stage;
  c.train.recompute = l.recompute;
  c.train.micro_batch = 2;
  c.train.global_batch = 8;  // 4 micro-batches (2 per data rank with data 2)
  c.train.steps = 10;
  c.train.eval_steps = 1;
  c.train.grad_clip = 1.0;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.optim.weight_decay = 0.1;
  return c;
}

class PipelineParallelTraining : public ::testing::TestWithParam<PpLayout> {};

TEST_P(PipelineParallelTraining, MatchesSingleRank) {
  const PpLayout l = GetParam();
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int size = l.pipeline * l.tensor * l.data;
  if (world != size) GTEST_SKIP() << "needs " << size << " ranks, have " << world;
  const Config cfg = pp_config(l);
  Config ref_cfg = cfg;
  ref_cfg.train.recompute = "none";
  ref_cfg.parallel.pipeline = 1;
  const TrainRun ref = train_steps(ref_cfg, nullptr);
  const Topology topo(world, rank, l.tensor, l.pipeline, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train_steps(cfg, &groups);

  // The tied embedding: the last stage's wte copy equals the first stage's bit for bit.
  if (groups.has_embedding()) {
    const ParamLayout layout(cfg.shape(), stage_partition(cfg, topo.pp_rank(), topo.tp_rank()));
    const ParamTensor& wte = layout.get(ParamKind::wte);
    const std::vector<float> mine(par.params.begin() + wte.offset, par.params.begin() + wte.offset + wte.count);
    std::vector<float> first = mine;
    groups.embedding()->broadcast(first, 0);
    EXPECT_TRUE(first == mine) << "rank " << rank << ": the tied wte copies of the first and last stage differ";
  }
  test::expect_matches_single_rank(par, reassemble(cfg, groups, par.params), ref);
  if (l.data > 1) test::expect_equal_to_data_replica0(groups, par.params);

  // Bytes per step on the pipeline and embedding groups, in closed form. Every stage of a 2-stage pipeline
  // sends or receives each micro-batch's activation (forward) and its gradient (backward), B*T*C floats,
  // plus two doubles all-reduced: the loss sum and the squared gradient norm. The tied wte gradient slice, (Vp/T)*C floats, is
  // all-reduced over the embedding group (with ZeRO-2: this rank's shard of it, so not checked there).
  if (l.pipeline == 2 && l.zero_stage < 2) {
    const uint64_t micro = cfg.train.global_batch / (cfg.train.micro_batch * l.data);
    const uint64_t act = uint64_t{4} * cfg.train.micro_batch * cfg.model.seq_len * cfg.model.hidden;
    EXPECT_EQ(par.comm_by_group.pipeline, 2 * micro * act + 2 * sizeof(double)) << "rank " << rank;
    const uint64_t wte = uint64_t{4} * cfg.shape().padded_vocab() / l.tensor * cfg.model.hidden;
    EXPECT_EQ(par.comm_by_group.embedding, wte) << "rank " << rank;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, PipelineParallelTraining,
                         ::testing::Values(PpLayout{2, 1, 1, 1, "none"}, PpLayout{4, 1, 1, 1, "none"},
                                           PpLayout{2, 1, 2, 1, "none"}, PpLayout{2, 1, 2, 2, "none"},
                                           PpLayout{2, 2, 1, 1, "none"},
                                           PpLayout{2, 1, 1, 1, "full"}, PpLayout{2, 1, 1, 0, "selective"}),
                         [](const auto& p) {
                           const PpLayout& l = p.param;
                           return "pp" + std::to_string(l.pipeline) + "_tp" + std::to_string(l.tensor) + "_dp" +
                                  std::to_string(l.data) + "_zero" + std::to_string(l.zero_stage) + "_recompute_" +
                                  l.recompute;
                         });

}  // namespace
}  // namespace strata
