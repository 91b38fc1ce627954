// Data-parallel training equals single-rank training: every layout that fits the world size trains
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

namespace strata {
namespace {

// Tokens as a pure function of the global sample index, so every layout sees the same samples.
class IndexedTokens final : public BatchSource {
 public:
  explicit IndexedTokens(int seq_len) : t_(seq_len) {}
  void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) override {
    for (int s = 0; s < count; ++s)
      for (int i = 0; i < t_; ++i) {
        const uint64_t k = (first + s) * 131 + i;
        inputs[s * t_ + i] = static_cast<int32_t>((k * 7 + (k / 5)) % 61);
        targets[s * t_ + i] = static_cast<int32_t>(((k + 1) * 7 + ((k + 1) / 5)) % 61);
      }
  }
  std::string describe() const override { return "indexed tokens"; }

 private:
  int t_;
};

Config small_config(int zero_stage, const char* recompute = "none") {
  Config c;
  c.train.recompute = recompute;
  c.model = {2, 32, 4, 16, 61};
  c.train.micro_batch = 2;
  c.train.global_batch = 8;
  c.train.steps = 10;
  c.train.eval_steps = 1;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.parallel.zero_stage = zero_stage;
  return c;
}

struct TrainRun {
  std::vector<double> loss, grad_norm, val_loss;
  uint64_t comm_bytes = 0;  // of the last step
  std::vector<float> params;
};

TrainRun train(const Config& cfg, const ParallelGroups* groups) {
  auto be = make_cpu_backend();
  Trainer t(cfg, *be, std::make_unique<IndexedTokens>(cfg.model.seq_len),
            std::make_unique<IndexedTokens>(cfg.model.seq_len), 1e12, groups);
  TrainRun r;
  for (int i = 0; i < cfg.train.steps; ++i) {
    const StepMetrics m = t.step();
    r.loss.push_back(m.loss);
    r.grad_norm.push_back(m.grad_norm);
    r.comm_bytes = m.comm_bytes;
  }
  r.val_loss.push_back(t.evaluate());
  r.params = t.model().get_parameters();
  return r;
}

void expect_equivalent(const TrainRun& par, const TrainRun& ref) {
  ASSERT_EQ(par.loss.size(), ref.loss.size());
  for (std::size_t i = 0; i < ref.loss.size(); ++i) {
    EXPECT_NEAR(par.loss[i], ref.loss[i], 1e-5 * std::abs(ref.loss[i])) << "step " << i + 1;
    EXPECT_NEAR(par.grad_norm[i], ref.grad_norm[i], 1e-4 * std::abs(ref.grad_norm[i])) << "step " << i + 1;
  }
  EXPECT_NEAR(par.val_loss[0], ref.val_loss[0], 1e-5 * std::abs(ref.val_loss[0]));
  ASSERT_EQ(par.params.size(), ref.params.size());
  double worst = 0;
  for (std::size_t i = 0; i < ref.params.size(); ++i) worst = std::max(worst, double(std::abs(par.params[i] - ref.params[i])));
  EXPECT_LT(worst, 1e-5) << "largest parameter difference after " << ref.loss.size() << " steps";
}

class DataParallelTraining : public ::testing::TestWithParam<int> {};

TEST_P(DataParallelTraining, MatchesSingleRank) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const Config cfg = small_config(GetParam());
  const TrainRun ref = train(cfg, nullptr);  // every rank computes the single-rank reference itself
  const Topology topo(world, rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  const TrainRun par = train(cfg, &groups);
  expect_equivalent(par, ref);
  // Bytes per step in closed form: the gradients' all-reduce (4 bytes per parameter) and the loss sum
  // (8 bytes); ZeRO-1 adds the parameters' all-gather (4 bytes per parameter).
  const uint64_t p = par.params.size() * 4;
  if (world > 1) EXPECT_EQ(par.comm_bytes, (GetParam() == 0 ? p : 2 * p) + 8);
  // The parameters are replicated exactly on every data rank (same reduced gradients, same update).
  std::vector<float> rank0 = par.params;
  MPI_Bcast(rank0.data(), static_cast<int>(rank0.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  EXPECT_EQ(rank0, par.params) << "rank " << rank << " diverged from rank 0";
}

INSTANTIATE_TEST_SUITE_P(ZeroStages, DataParallelTraining, ::testing::Values(0, 1),
                         [](const auto& info) { return "zero" + std::to_string(info.param); });

TEST(DataParallelTrainingRecompute, FullRecomputeWithZero1MatchesSingleRankWithout) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const TrainRun ref = train(small_config(1), nullptr);
  const Topology topo(world, rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_mpi_groups(topo);
  expect_equivalent(train(small_config(1, "full"), &groups), ref);
}

}  // namespace
}  // namespace strata
