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

#include <cstdint>
#include <ostream>
#include <string>

#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::TrainRun;

struct PpLayout {
  int pipeline, tensor, data, zero_stage;
  const char* recompute;
};
void PrintTo(const PpLayout& l, std::ostream* os) {
  *os << "pipeline " << l.pipeline << " x tensor " << l.tensor << " x data " << l.data << ", ZeRO " << l.zero_stage
      << ", recompute " << l.recompute;
}

Config pp_config(const PpLayout& l) {
  Config c = test::small_training_config(4);  // 4 layers: pipeline 4 holds one block per stage
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.zero_stage = l.zero_stage;
  c.train.recompute = l.recompute;  // 4 micro-batches (2 per data rank with data 2)
  return c;
}

class PipelineParallelTraining : public ::testing::TestWithParam<PpLayout> {};

TEST_P(PipelineParallelTraining, MatchesSingleRank) {
  const PpLayout l = GetParam();
  const int size = l.pipeline * l.tensor * l.data;
  if (test::world_size() != size) GTEST_SKIP() << "needs " << size << " ranks, have " << test::world_size();
  const Config cfg = pp_config(l);
  const TrainRun par = test::expect_pipeline_matches_single_rank(cfg);

  // Bytes per step on the pipeline and embedding groups, in closed form. Every stage of a 2-stage pipeline
  // sends or receives each micro-batch's activation (forward) and its gradient (backward), B*T*C floats,
  // plus two doubles all-reduced: the loss sum and the squared gradient norm. The tied wte gradient slice, (Vp/T)*C floats, is
  // all-reduced over the embedding group (with ZeRO-2: this rank's shard of it, so not checked there).
  if (l.pipeline == 2 && l.zero_stage < 2) {
    const uint64_t micro = cfg.train.global_batch / (cfg.train.micro_batch * l.data);
    const uint64_t act = uint64_t{4} * cfg.train.micro_batch * cfg.model.seq_len * cfg.model.hidden;
    EXPECT_EQ(par.comm_by_group.pipeline, 2 * micro * act + 2 * sizeof(double)) << "rank " << test::world_rank();
    const uint64_t wte = uint64_t{4} * cfg.shape().padded_vocab() / l.tensor * cfg.model.hidden;
    EXPECT_EQ(par.comm_by_group.embedding, wte) << "rank " << test::world_rank();
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
