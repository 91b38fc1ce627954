// strata-train --dry-run (src/dry_run.h) against the planner: the real partition (ParamLayout,
// ZeroPartition, Topology) of every rank gives exactly the planner's parameters per rank and its
// memory within the planner's stated margin; GPT-3 175B at 1024 and 4096 ranks; invalid layouts
// rejected with the key named.
#include <gtest/gtest.h>

#include "src/dry_run.h"
#include "src/plan_time.h"
#include "tests/unit/test_util.h"

namespace strata {
namespace {

Config gpt3_175b() { return load_config(std::string(STRATA_SOURCE_DIR) + "/configs/gpt3-175b.ini", {}); }

// Every rank's parameters equal the planner's closed form exactly; memory agrees within kMemoryMargin.
void expect_matches_planner(const Config& cfg, int world, const Hardware& hw) {
  const DryRun run = dry_run(cfg, world, hw);
  ASSERT_EQ(static_cast<int>(run.ranks.size()), world);
  const StepPrediction plan = predict(cfg.shape(), run.layout, hw, 1e9);
  for (const DryRunRank& r : run.ranks) {
    const int pp = r.coord.pp;
    ASSERT_EQ(r.counts.params, plan.counts[pp].params) << "rank " << r.rank;
    ASSERT_EQ(r.counts.params, rank_parameters(cfg.shape(), run.layout, pp));
    const double planned = plan.memory[pp].total(), real = r.memory.total();
    ASSERT_NEAR(real / planned, 1.0, kMemoryMargin) << "rank " << r.rank;
    ASSERT_EQ(r.memory.in_flight, plan.memory[pp].in_flight);
  }
  EXPECT_EQ(run.fits, plan.fits);
}

TEST(PlanDryRun, SmallLayoutsMatchThePlannerExactly) {
  Config c;
  c.model.layers = 8, c.model.hidden = 64, c.model.heads = 4, c.model.seq_len = 32, c.model.vocab_size = 1000;
  c.train.global_batch = 32, c.train.micro_batch = 2;
  const Hardware hw = builtin_hardware("cpu");
  struct L {
    int t, p, v, zero, world;
  };
  for (const L& l : {L{1, 1, 1, 0, 1}, L{2, 1, 1, 1, 8}, L{1, 4, 1, 2, 8}, L{2, 2, 2, 1, 16}, L{4, 2, 1, 3, 32},
                     L{1, 2, 4, 1, 4}}) {
    Config cfg = c;
    cfg.parallel.tensor = l.t, cfg.parallel.pipeline = l.p, cfg.parallel.virtual_stages = l.v;
    cfg.parallel.zero_stage = l.zero;
    SCOPED_TRACE(::testing::Message() << "t" << l.t << " p" << l.p << " v" << l.v << " z" << l.zero << " world "
                                      << l.world);
    expect_matches_planner(cfg, l.world, hw);
  }
}

TEST(PlanDryRun, Gpt3At1024And4096RanksFits80GBLikeThePlanner) {
  const Config c = gpt3_175b();
  const Hardware hw = builtin_hardware("h100-sxm");
  expect_matches_planner(c, 1024, hw);
  const DryRun run = dry_run(c, 1024, hw);
  EXPECT_TRUE(run.fits);
  EXPECT_LT(run.max_memory, 80.0 * (1 << 30));
  // Rank 0: tensor 0, data 0, stage 0 of t8 x d8 x p16: layers 0-5 and the embedding.
  const DryRunRank& r0 = run.ranks[0];
  ASSERT_EQ(r0.chunks.size(), 1u);
  EXPECT_EQ(r0.chunks[0].first_layer, 0);
  EXPECT_EQ(r0.chunks[0].num_layers, 6);
  EXPECT_TRUE(r0.chunks[0].has_embedding);
  EXPECT_EQ(run.topology.group_of(Axis::tensor, 0), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(run.topology.group_of(Axis::pipeline, 0).back(), 960);
  // ZeRO-1 shards of a data group cover the rank's parameters once.
  int64_t owned = 0;
  for (int dp = 0; dp < 8; ++dp) owned += run.ranks[static_cast<std::size_t>(dp * 8)].counts.owned;
  EXPECT_EQ(owned, r0.counts.params);

  expect_matches_planner(c, 4096, hw);  // data 32, 48 micro-batches per data rank
  EXPECT_TRUE(dry_run(c, 4096, hw).fits);
}

TEST(PlanDryRun, FlagsLayoutsThatDoNotFitOrAreInvalid) {
  Config c = gpt3_175b();
  c.parallel.pipeline = 1;  // 175B over 8 tensor ranks only: ~22B parameters per GPU
  const DryRun run = dry_run(c, 64, builtin_hardware("a100-80gb"));
  EXPECT_FALSE(run.fits);
  test::expect_error([&] { dry_run(gpt3_175b(), 1000, builtin_hardware("h100-sxm")); }, ErrorKind::config,
                     {"parallel.tensor", "1000"});
  Config bad = gpt3_175b();
  bad.parallel.tensor = 5;
  test::expect_error([&] { dry_run(bad, 1280, builtin_hardware("h100-sxm")); }, ErrorKind::config,
                     {"parallel.tensor", "model.heads"});
}

TEST(PlanDryRun, GroupsPrintCompactly) {
  EXPECT_EQ(format_group({}), "[]");
  EXPECT_EQ(format_group({3}), "[3]");
  EXPECT_EQ(format_group({0, 8}), "[0,8]");
  EXPECT_EQ(format_group({0, 1, 2, 3}), "[0..3]");
  EXPECT_EQ(format_group({0, 64, 128, 192}), "[0..192 step 64]");
  EXPECT_EQ(format_group({0, 1, 5}), "[0,1,5]");
}

}  // namespace
}  // namespace strata
