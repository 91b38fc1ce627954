// Planner time model (src/plan_time.h) and search (src/plan_search.h): alpha-beta collectives in closed
// form, the pipeline formula, bytes per group against the communicator's counting, MFU's definition,
// and --search on 1024 H100s: sorted by predicted throughput, every layout fitting.
#include <gtest/gtest.h>

#include "src/plan_search.h"
#include "src/plan_time.h"

namespace strata {
namespace {

Config gpt3_175b() { return load_config(std::string(STRATA_SOURCE_DIR) + "/configs/gpt3-175b.ini", {}); }

TEST(PlanTime, CollectivesAreAlphaBetaRings) {
  // 1 GB all-reduce over 8 ranks at 100 GB/s, 5 us: 14 steps of latency + 2*7/8 GB on the link.
  EXPECT_DOUBLE_EQ(collective_seconds(CommOp::all_reduce, 1e9, 8, 100, 5, 1.0), 14 * 5e-6 + 1.75e9 / 1e11);
  EXPECT_DOUBLE_EQ(collective_seconds(CommOp::all_gather, 1e9, 8, 100, 5, 0.5), 7 * 5e-6 + 0.875e9 / 0.5e11);
  EXPECT_DOUBLE_EQ(collective_seconds(CommOp::send, 1e6, 2, 10, 2, 1.0), 2e-6 + 1e6 / 1e10);
  EXPECT_EQ(collective_seconds(CommOp::all_reduce, 1e9, 1, 100, 5, 1.0), 0.0);
}

TEST(PlanTime, DataGroupBytesMatchTheCommunicatorCount) {
  // The data group's payload per step as parallel/data_parallel.h moves it (the MPI training test's
  // closed form, less the 8-byte loss sum): ZeRO 0 all-reduces 4 bytes per parameter, ZeRO 1 and 2
  // add the parameters' all-gather.
  Config c;
  c.train.global_batch = 8, c.train.micro_batch = 2;
  for (int zero : {0, 1, 2}) {
    PlanLayout l = plan_layout_of(c, 4);
    l.zero_stage = zero;
    const StepPrediction p = predict(c.shape(), l, builtin_hardware("a100-80gb"), 1e9);
    const double params = static_cast<double>(gpt_parameter_count(c.shape()));
    EXPECT_DOUBLE_EQ(p.data.payload, (zero == 0 ? 4 : 8) * params + 8 + (zero == 2 ? 16 : 0)) << "ZeRO " << zero;
    EXPECT_DOUBLE_EQ(p.data.bus, (zero == 0 ? 2 * 0.75 : zero == 1 ? 2 * 0.75 + 0.75 : 0.75 + 0.75) * 4 * params +
                                     1.5 * (8 + (zero == 2 ? 16 : 0)));
  }
}

TEST(PlanTime, Zero3GathersFollowTheResidencyRules) {
  // tests/mpi_train/test_zero3_training.cpp: a step gathers the embedding and head once, the L blocks in
  // the first forward and L - 2 blocks in each of the other 2M - 1 passes; the gradients are
  // reduce-scattered once (4 bytes per parameter) and the loss and norm partial sums are all-reduced.
  Config c;
  c.model.layers = 4, c.train.global_batch = 16, c.train.micro_batch = 2, c.parallel.zero_stage = 3;
  const PlanLayout l = plan_layout_of(c, 4);  // data 4, M = 2
  const StepPrediction p = predict(c.shape(), l, builtin_hardware("cpu"), 1e9);
  const GptShape s = c.shape();
  const double n = static_cast<double>(gpt_parameter_count(s)), block = static_cast<double>(block_parameters(s, 1));
  const double ends = n - 4 * block;  // the embedding and head ranges
  EXPECT_DOUBLE_EQ(p.data.payload, 4 * n + 4 * (ends + block * (4 + 2 * 3)) + 8 + 16);
}

TEST(PlanTime, PipelineTensorAndEmbeddingBytesMatchTheCommunicatorCount) {
  // The closed forms of the MPI training tests (tests/mpi_train): a 2-stage pipeline sends or receives
  // every micro-batch's activation and its gradient (B*T*C floats each way) plus two doubles; the tied
  // wte slice is all-reduced over the embedding group. On the tensor group, stage 0 all-reduces the
  // embedding output and two (B*T*C) partial sums per block forward and two backward, plus the norm.
  Config c;
  c.model.layers = 4, c.train.global_batch = 16, c.train.micro_batch = 2;
  c.parallel.tensor = 2, c.parallel.pipeline = 2, c.parallel.zero_stage = 1;
  const PlanLayout l = plan_layout_of(c, 8);
  const StepPrediction p = predict(c.shape(), l, builtin_hardware("cpu"), 1e9);
  const double m = 4, act = 4.0 * 2 * 64 * 64, wte = 4.0 * 512 / 2 * 64;  // Vp = 512 at tensor 2
  EXPECT_DOUBLE_EQ(p.stages[0].pipeline.payload, 2 * m * act + 16);
  EXPECT_DOUBLE_EQ(p.stages[1].pipeline.payload, 2 * m * act + 16);
  EXPECT_DOUBLE_EQ(p.stages[0].embedding.payload, wte);
  EXPECT_DOUBLE_EQ(p.stages[1].embedding.payload, wte);
  EXPECT_DOUBLE_EQ(p.stages[0].tensor.payload, m * (act + 2 * 4 * act) + 8);
  // Last stage: its blocks, the cross-entropy statistics (3 floats per token) and the output
  // projection's input gradient.
  EXPECT_DOUBLE_EQ(p.stages[1].tensor.payload, m * (2 * 4 * act + 2 * 64 * 12 + act) + 8);
}

TEST(PlanTime, PipelineBubbleFollowsTheSchedules) {
  Config c = gpt3_175b();
  PlanLayout l = plan_layout_of(c, 1024);  // t8 p16 d8, 192 micro-batches
  const Hardware hw = builtin_hardware("h100-sxm");
  const StepPrediction a = predict(c.shape(), l, hw, 3e11);
  EXPECT_DOUBLE_EQ(a.ideal_bubble_fraction, 15.0 / 192.0);
  // Stages differ only by the embedding and head, so the bubble is near (P-1)/V micro-batch times.
  double max_c = 0;
  for (const StageTime& st : a.stages) max_c = std::max(max_c, st.forward + st.backward);
  EXPECT_NEAR(a.bubble_s / (15 * max_c), 1.0, 0.1);
  l.virtual_stages = 2;
  const StepPrediction b = predict(c.shape(), l, hw, 3e11);
  EXPECT_LT(b.bubble_s, 0.6 * a.bubble_s);
  EXPECT_GT(b.memory[0].activations, a.memory[0].activations);
  // MFU and time to train follow from tokens/s by definition.
  EXPECT_DOUBLE_EQ(a.tokens_per_s, 1536.0 * 2048 / a.step_s);
  EXPECT_DOUBLE_EQ(a.mfu, a.tokens_per_s * gpt_flops_per_token(a.shape) / (1024 * 989e12));
  EXPECT_DOUBLE_EQ(a.days, 3e11 / a.tokens_per_s / 86400);
  EXPECT_DOUBLE_EQ(a.gpu_hours, a.days * 24 * 1024);
}

TEST(PlanTime, Shipped175BLayoutFitsIn80GB) {
  const Config c = gpt3_175b();
  for (const char* name : {"h100-sxm", "a100-80gb"}) {
    const StepPrediction p = predict(c.shape(), plan_layout_of(c, 1024), builtin_hardware(name), 3e11);
    EXPECT_TRUE(p.fits) << name << ": " << p.max_memory / (1 << 30) << " GiB";
    EXPECT_LT(p.max_memory, 80.0 * (1 << 30));
    EXPECT_GT(p.mfu, 0.2);
    EXPECT_LT(p.mfu, 0.8);
  }
  // The same model without tensor or pipeline parallelism fits nowhere.
  Config flat = c;
  flat.parallel.tensor = 1, flat.parallel.pipeline = 1;
  EXPECT_FALSE(predict(c.shape(), plan_layout_of(flat, 1024), builtin_hardware("h200"), 3e11).fits);
}

TEST(PlanSearch, RanksFittingLayoutsOf1024H100sByThroughput) {
  const Config c = gpt3_175b();
  const Hardware hw = builtin_hardware("h100-sxm");
  const SearchResult r = search_layouts(c, 1024, hw, 3e11, "bf16");
  ASSERT_FALSE(r.fitting.empty());
  EXPECT_GT(r.rejected_memory, 0);
  EXPECT_EQ(static_cast<int>(r.fitting.size()) + r.rejected_memory, r.valid);
  for (std::size_t i = 0; i < r.fitting.size(); ++i) {
    const StepPrediction& p = r.fitting[i];
    EXPECT_TRUE(p.fits);
    EXPECT_LE(p.max_memory, 80.0 * (1 << 30));
    EXPECT_EQ(p.layout.world(), 1024);
    EXPECT_NO_THROW(check_layout(c, p.layout));
    if (i > 0) {
      EXPECT_GE(r.fitting[i - 1].tokens_per_s, p.tokens_per_s);
    }
  }
  // The ranking is the prediction: the best layout predicted alone gives the same throughput, and it
  // beats the shipped layout (or is it).
  const StepPrediction& best = r.fitting.front();
  EXPECT_DOUBLE_EQ(predict(c.shape(), best.layout, hw, 3e11).tokens_per_s, best.tokens_per_s);
  PlanLayout shipped = plan_layout_of(c, 1024);
  EXPECT_GE(best.tokens_per_s, predict(c.shape(), shipped, hw, 3e11).tokens_per_s);
}

}  // namespace
}  // namespace strata
