// Interleaved 1F1B training equals single-rank training (parallel.virtual_stages = V > 1,
// parallel/pipeline_schedule.h): each rank holds V model chunks (chunk c of rank p is virtual stage
// c*P + p), micro-batches go around the ring of ranks V times, activations and gradients travel on
// separate tags. Layouts: pipeline 2 x virtual 2 and x virtual 4 (2 ranks), pipeline 2 x virtual 2 with
// selective recompute (2 ranks), pipeline 4 x virtual 2 with recompute none and full (4 ranks, one block
// per chunk), pipeline 2 x virtual 2 x data 2 with ZeRO-1 and with ZeRO-3 (4 ranks, 2 micro-batches per
// data rank), and tensor 2 x pipeline 2 x virtual 2 (4 ranks). Each trains 10 steps of an 8-block model on the same
// samples with the same seed as the single-rank run, which every rank computes itself: per-step losses
// within 1e-5 relative, gradient norms within 1e-4 relative, the validation loss within 1e-5 relative,
// and the final parameters, gathered over the model group (every rank's chunks and tensor slices),
// within 1e-5 absolute; the tied wte copies and data replicas bit-identical
// (test::expect_pipeline_matches_single_rank); the bytes moved on the pipeline and embedding groups per
// step have their closed form. A layout whose size differs from the world size is
// skipped (ctest runs this executable on 1, 2 and 4 ranks).
#include <gtest/gtest.h>
#include <cstdint>
#include <ostream>
#include <string>

#include "src/trainer.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

struct VpLayout {
  int pipeline, virtual_stages, tensor, data, zero_stage;
  const char* recompute;
};
void PrintTo(const VpLayout& l, std::ostream* os) {
  *os << "pipeline " << l.pipeline << " x virtual " << l.virtual_stages << " x tensor " << l.tensor << " x data "
      << l.data << ", ZeRO " << l.zero_stage << ", recompute " << l.recompute;
}

Config vp_config(const VpLayout& l) {
  Config c = test::small_training_config(8);  // 8 layers: pipeline 4 x virtual 2 holds one block per chunk
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.virtual_stages = l.virtual_stages;
  c.parallel.zero_stage = l.zero_stage;
  c.train.recompute = l.recompute;  // 4 micro-batches (2 per data rank with data 2): a multiple of the pipeline
  return c;
}

class InterleavedPipelineTraining : public ::testing::TestWithParam<VpLayout> {};

TEST_P(InterleavedPipelineTraining, MatchesSingleRank) {
  const VpLayout l = GetParam();
  const int size = l.pipeline * l.tensor * l.data;
  if (test::world_size() != size) GTEST_SKIP() << "needs " << size << " ranks, have " << test::world_size();
  const Config cfg = vp_config(l);
  validate_config(cfg, size);
  const test::TrainRun par = test::expect_pipeline_matches_single_rank(cfg);

  // Bytes per step on the pipeline group, in closed form: each of the rank's V chunks (virtual stages)
  // receives and sends each micro-batch's activation and gradient, B*T*C floats each, except that the
  // first virtual stage (rank 0's chunk 0) receives no input and sends no gradient and the last (rank
  // P-1's last chunk) sends no output and receives no gradient; plus the loss sum and the squared
  // gradient norm, two doubles. The tied wte gradient slice, (Vp/T)*C floats, is all-reduced over the
  // embedding group (first and last stage only).
  const int p = test::world_rank() / (l.tensor * l.data);  // rank order tp,dp,pp
  const uint64_t micro = cfg.train.global_batch / (cfg.train.micro_batch * l.data);
  const uint64_t act = uint64_t{4} * cfg.train.micro_batch * cfg.model.seq_len * cfg.model.hidden;
  const uint64_t messages = micro * (4 * l.virtual_stages - 2 * (p == 0) - 2 * (p == l.pipeline - 1));
  EXPECT_EQ(par.comm_by_group.pipeline, messages * act + 2 * sizeof(double)) << "rank " << test::world_rank();
  const uint64_t wte = uint64_t{4} * cfg.shape().padded_vocab() / l.tensor * cfg.model.hidden;
  if (l.zero_stage < 2) {  // ZeRO 2 and 3 sum only this rank's shard of the wte gradient
    EXPECT_EQ(par.comm_by_group.embedding, p == 0 || p == l.pipeline - 1 ? wte : 0) << "rank " << test::world_rank();
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, InterleavedPipelineTraining,
                         ::testing::Values(VpLayout{2, 2, 1, 1, 1, "none"}, VpLayout{2, 4, 1, 1, 1, "none"},
                                           VpLayout{2, 2, 1, 1, 1, "selective"}, VpLayout{4, 2, 1, 1, 1, "none"},
                                           VpLayout{4, 2, 1, 1, 1, "full"}, VpLayout{2, 2, 1, 2, 1, "none"},
                                           VpLayout{2, 2, 1, 2, 3, "none"}, VpLayout{2, 2, 2, 1, 1, "none"}),
                         [](const auto& p) {
                           const VpLayout& l = p.param;
                           return "pp" + std::to_string(l.pipeline) + "_vp" + std::to_string(l.virtual_stages) +
                                  "_tp" + std::to_string(l.tensor) + "_dp" + std::to_string(l.data) + "_zero" +
                                  std::to_string(l.zero_stage) + "_recompute_" + l.recompute;
                         });

}  // namespace
}  // namespace strata
