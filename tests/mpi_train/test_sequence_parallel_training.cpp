// Sequence-parallel training equals single-rank training (Megatron sequence parallelism, src/gpt_model.h and
// parallel/sequence_parallel.h): tensor 2 (2 ranks), tensor 4 (4 ranks, 8 rows each), tensor 2 x pipeline 2
// (4 ranks, also interleaved with 2 virtual stages) and tensor 2 x pipeline 2 x data 2 with ZeRO-2 and with
// ZeRO-3 (8 ranks), each also with full or selective recompute, train 10 steps of a small model with parallel.sequence_parallel on the same samples with the
// same seed as the single-rank run, which every rank computes itself. Per-step losses must agree within
// 1e-5 relative, gradient norms within 1e-4 relative, the validation loss within 1e-5 relative, and the
// final parameters, reassembled from every stage and tensor slice, within 1e-5 absolute; replicated
// tensors (LayerNorms, row-parallel biases, wpe, whose gradients sequence parallelism computes from partial
// rows) must be bit-identical on every tensor rank. A recompute run must be bit-identical to the same
// layout without recompute. The bytes each step moves on the tensor and pipeline groups are checked in
// closed form (all-gathers and reduce-scatters instead of all-reduces; 1/T of the activations between
// stages). The activation memory of a sequence-parallel model is the closed form below
// (the replicated (BT,C) activations shrink by T). A layout whose size differs from the world size is
// skipped (ctest runs this executable on 1, 2 and 4 ranks, and the EightRanks suites on 8).
#include <gtest/gtest.h>
#include <mpi.h>

#include <ostream>
#include <string>
#include <vector>

#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"
#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::reassemble;
using test::TrainRun;
using test::train_steps;

struct SpLayout {
  int tensor, pipeline, data, zero_stage;
  const char* recompute;
  int virtual_stages = 1;  // > 1: the interleaved schedule, one block per chunk
};
void PrintTo(const SpLayout& l, std::ostream* os) {
  *os << "tensor " << l.tensor << " x pipeline " << l.pipeline << " x data " << l.data << ", ZeRO " << l.zero_stage
      << ", virtual stages " << l.virtual_stages << ", sequence parallel, recompute " << l.recompute;
}

Config sp_config(const SpLayout& l) {
  Config c;
  c.model = {2 * l.virtual_stages, 32, 4, 16, 61};  // one block per stage (chunk) with pipeline 2
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.virtual_stages = l.virtual_stages;
  c.parallel.zero_stage = l.zero_stage;
  c.parallel.sequence_parallel = true;
  c.train.recompute = l.recompute;
  c.train.micro_batch = 2;  // 32 rows per micro-batch: 16 per rank with tensor 2, 8 with tensor 4
  c.train.global_batch = 8;
  c.train.steps = 10;
  c.train.eval_steps = 1;
  c.train.grad_clip = 1.0;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.optim.weight_decay = 0.1;
  return c;
}

class SequenceParallelTraining : public ::testing::TestWithParam<SpLayout> {};

TEST_P(SequenceParallelTraining, MatchesSingleRank) {
  const SpLayout l = GetParam();
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int size = l.tensor * l.pipeline * l.data;
  if (world != size) GTEST_SKIP() << "needs " << size << " ranks, have " << world;
  const Config cfg = sp_config(l);
  const TrainRun ref = test::single_rank_reference(cfg);
  const Topology topo(world, rank, l.tensor, l.pipeline, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train_steps(cfg, &groups);

  test::expect_matches_single_rank(par, reassemble(cfg, groups, par.params), ref);
  if (l.data > 1) test::expect_equal_to_data_replica0(groups, par.params);

  // Bytes per step, in closed form (payload as Communicator counts it: an all-gather or a reduce-scatter
  // of a (BT,C) matrix counts all of it, F bytes; an all-reduce its buffer). Tensor group, per
  // micro-batch and block: the forward all-gathers ln1 and ln2 and reduce-scatters attn_proj and fc_proj
  // (4F); the backward all-gathers dres twice and ln2 and ln1 again, reduce-scatters the two
  // column-parallel input gradients (6F) and sums the LayerNorm gradients (4C floats); full recompute
  // runs the forward's 4F again. The embedding reduce-scatters its output and all-gathers its gradient
  // (2F); the head all-gathers lnf and reduce-scatters its input gradient (2F), all-reduces the
  // cross-entropy's row max and two row statistics (3BT floats) and the final LayerNorm's gradients
  // (2C floats). The step adds the gradient norm's partial sum over the tensor slices (a double).
  // Pipeline group: each micro-batch's activation and gradient cross the stage boundary as this
  // rank's rows only (F/T each way), plus the loss and gradient-norm doubles.
  const ModelPartition part = test::stage_partition(cfg, topo.pp_rank(), topo.tp_rank());
  const uint64_t micro = cfg.train.global_batch / (cfg.train.micro_batch * l.data);
  const uint64_t bt = static_cast<uint64_t>(cfg.train.micro_batch) * cfg.model.seq_len, c = cfg.model.hidden;
  const uint64_t f = 4 * bt * c;
  const uint64_t per_block = 10 * f + 16 * c + (std::string(l.recompute) == "full" ? 4 * f : 0);
  const uint64_t per_micro = part.local_layers() * per_block + (part.has_embedding ? 2 * f : 0) +
                             (part.has_head ? 2 * f + 12 * bt + 8 * c : 0);
  EXPECT_EQ(par.comm_by_group.tensor, micro * per_micro + sizeof(double)) << "rank " << rank;
  if (l.pipeline == 2) {
    // 2V - 1 boundaries per micro-batch on each stage (V chunks), crossed forward and backward.
    const uint64_t crossings = 2 * (2 * l.virtual_stages - 1);
    EXPECT_EQ(par.comm_by_group.pipeline, crossings * micro * f / l.tensor + 2 * sizeof(double)) << "rank " << rank;
  }
  if (std::string(l.recompute) != "none") {
    // Recompute repeats the same kernels and collectives on the same inputs: bit-identical to none.
    Config none_cfg = cfg;
    none_cfg.train.recompute = "none";
    const TrainRun none = train_steps(none_cfg, &groups);
    EXPECT_EQ(par.loss, none.loss);
    EXPECT_EQ(par.grad_norm, none.grad_norm);
    EXPECT_EQ(par.val_loss, none.val_loss);
    EXPECT_TRUE(par.params == none.params) << "recompute " << l.recompute << " changed the parameters";
  }
}

std::string layout_name(const ::testing::TestParamInfo<SpLayout>& p) {
  const SpLayout& l = p.param;
  return "tp" + std::to_string(l.tensor) + "_pp" + std::to_string(l.pipeline) + "_dp" + std::to_string(l.data) +
         (l.virtual_stages > 1 ? "_vp" + std::to_string(l.virtual_stages) : std::string()) + "_zero" +
         std::to_string(l.zero_stage) + "_sp_recompute_" + l.recompute;
}

INSTANTIATE_TEST_SUITE_P(Layouts, SequenceParallelTraining,
                         ::testing::Values(SpLayout{2, 1, 1, 1, "none"}, SpLayout{2, 1, 1, 1, "full"},
                                           SpLayout{2, 1, 1, 0, "selective"}, SpLayout{4, 1, 1, 1, "none"},
                                           SpLayout{2, 2, 1, 1, "none"}, SpLayout{2, 2, 1, 1, "full"},
                                           SpLayout{2, 2, 1, 1, "none", 2}),
                         layout_name);
// ctest's 8-rank entry runs only suites with EightRanks in their name.
INSTANTIATE_TEST_SUITE_P(EightRanks, SequenceParallelTraining,
                         ::testing::Values(SpLayout{2, 2, 2, 2, "none"}, SpLayout{2, 2, 2, 2, "selective"},
                                           SpLayout{2, 2, 2, 3, "full"}),
                         layout_name);

// The memory reported at start-up: with sequence parallelism every activation of the residual stream
// (the stage's L+1 block boundaries and dres), of the LayerNorms (ln1, ln2 and their statistics; the
// final LayerNorm's statistics) and x_mid holds BT/T rows instead of BT; the model adds one (BT,C)
// buffer for gathered rows and 4C floats of LayerNorm gradients.
TEST(SequenceParallelMemory, ActivationsShrinkByTheTensorSize) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (world != 2) GTEST_SKIP() << "needs 2 ranks, have " << world;
  const Topology topo(world, rank, 2, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const Config cfg = sp_config({2, 1, 1, 1, "none"});
  ModelPartition part;
  part.tensor_rank = rank;
  part.tensor_size = 2;
  auto be = make_cpu_backend();
  const GptModel plain(*be, cfg.shape(), part, cfg.train.micro_batch, Recompute::none, &groups.tensor(), 1, false);
  const GptModel sp(*be, cfg.shape(), part, cfg.train.micro_batch, Recompute::none, &groups.tensor(), 1, true);
  EXPECT_FALSE(plain.sequence_parallel());
  EXPECT_TRUE(sp.sequence_parallel());
  const std::size_t bt = static_cast<std::size_t>(cfg.train.micro_batch) * cfg.model.seq_len, c = cfg.model.hidden;
  const std::size_t layers = cfg.model.layers, t = 2;
  const std::size_t split_floats = (layers + 1) * bt * c + layers * (3 * bt * c + 4 * bt) + 2 * bt + bt * c;
  const std::size_t saved = split_floats - split_floats / t, added = bt * c + 4 * c;
  EXPECT_EQ(plain.activation_bytes() - sp.activation_bytes(), (saved - added) * sizeof(float));
  EXPECT_EQ(sp.stage_activation_floats(), bt * c / t);  // what a pipeline stage sends
  EXPECT_LT(sp.activation_bytes(), plain.activation_bytes());
}

}  // namespace
}  // namespace strata
