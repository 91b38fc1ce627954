// Planner model counts (src/plan_model.h): parameter counts against hand-computed values for several
// shapes (padding included and explained), per-rank counts that add up, FLOPs with recompute, and
// layout rules with the key named.
#include <gtest/gtest.h>

#include "src/config.h"
#include "src/plan_model.h"
#include "tests/unit/test_util.h"

namespace strata {
namespace {

GptShape shape(int layers, int hidden, int heads, int seq, int vocab, int tensor = 1) {
  GptShape s;
  s.layers = layers, s.hidden = hidden, s.heads = heads, s.seq_len = seq, s.vocab_size = vocab, s.tensor = tensor;
  return s;
}

// N = V*C + T*C + L*(12*C^2 + 13*C) + 2*C, worked by hand:
//   GPT-2 124M: 50257*768 + 1024*768 + 12*(12*768^2 + 13*768) + 2*768
//             = 38,597,376 + 786,432 + 85,054,464 + 1,536 = 124,439,808 (vocabulary unpadded).
// Padding to a multiple of 128*tensor adds (Vp - V)*C: 50304 rows at tensor 1 (+47*768 = 36,096),
// 51200 at tensor 8 (+943*768 = 724,224).
TEST(PlanModel, ParameterCountsMatchHandComputedValues) {
  const int64_t gpt2_unpadded = 38'597'376 + 786'432 + 85'054'464 + 1'536;
  EXPECT_EQ(gpt2_unpadded, 124'439'808);
  EXPECT_EQ(gpt_parameter_count(shape(12, 768, 12, 1024, 50257)), 124'439'808 + 36'096);
  EXPECT_EQ(gpt_parameter_count(shape(12, 768, 12, 1024, 50257, 8)), 124'439'808 + 724'224);
  // GPT-3 175B: 96*(12*12288^2 + 13*12288) = 173,961,510,912; wpe 25,165,824; lnf 24,576; wte 50257 rows
  // = 617,558,016 -> 174,604,259,328 unpadded; padded to 51200 (tensor 8): 174,615,846,912.
  EXPECT_EQ(gpt_parameter_count(shape(96, 12288, 96, 2048, 50257, 8)), 174'615'846'912);
  EXPECT_EQ(gpt_parameter_count(shape(96, 12288, 96, 2048, 50257, 1)), 174'604'836'864);
  // GPT-3 XL 1.3B: 24*(12*2048^2 + 13*2048) = 1,208,598,528 + wte 50304*2048 = 103,022,592 + wpe 4,194,304
  // + 4,096.
  EXPECT_EQ(gpt_parameter_count(shape(24, 2048, 16, 2048, 50257)), 1'315'819'520);
  // gpt-tiny: 384*64 + 64*64 + 2*(12*64^2 + 13*64) + 128 = 24,576 + 4,096 + 99,968 + 128.
  EXPECT_EQ(gpt_parameter_count(shape(2, 64, 4, 64, 257)), 128'768);
}

TEST(PlanModel, RankParametersAddUpToTheModel) {
  const GptShape s = shape(8, 96, 6, 32, 1000, 2);
  for (int t : {1, 2}) {
    for (int p : {1, 2, 4}) {
      for (int v : {1, 2}) {
        if (v > 1 && p == 1) continue;
        PlanLayout l;
        l.tensor = t, l.pipeline = p, l.virtual_stages = v;
        GptShape st = s;
        st.tensor = t;
        int64_t sum = 0;
        for (int stage = 0; stage < p; ++stage) sum += rank_parameters(st, l, stage);
        // Over a tensor group the split tensors add up once and the replicated ones (6C per block, wpe,
        // lnf) t times; the last stage holds its own wte copy when it is not the first.
        const int64_t c = 96, wte = static_cast<int64_t>(st.padded_vocab()) * c;
        const int64_t replicated = 8 * 6 * c + 32 * c + 2 * c;
        // Precisely: t copies of the per-rank counts = every split tensor once + replicated ones t times.
        EXPECT_EQ(sum * t, gpt_parameter_count(st) + (t - 1) * replicated + (p > 1 ? wte : 0))
            << "t " << t << " p " << p << " v " << v;
      }
    }
  }
}

TEST(PlanModel, InterleavedChunksFollowTheRoundRobinRule) {
  const GptShape s = shape(16, 64, 4, 32, 257);
  PlanLayout l;
  l.pipeline = 4, l.virtual_stages = 2;
  const std::vector<ModelChunk> c = stage_chunks(s, l, 1);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].index, 1);  // chunk v*P + p
  EXPECT_EQ(c[1].index, 5);
  EXPECT_EQ(c[0].first_layer, 2);
  EXPECT_EQ(c[1].first_layer, 10);
  EXPECT_EQ(c[1].num_layers, 2);
  EXPECT_TRUE(stage_chunks(s, l, 0)[0].has_embedding);
  EXPECT_TRUE(stage_chunks(s, l, 3)[1].has_head);
  EXPECT_FALSE(stage_chunks(s, l, 3)[0].has_head);
}

TEST(PlanModel, HardwareFlopsAddWhatRecomputeRepeats) {
  const GptShape s = shape(4, 128, 4, 256, 1000);
  const double model = gpt_flops_per_token(s);
  EXPECT_DOUBLE_EQ(hardware_flops_per_token(s, "none"), model);
  EXPECT_DOUBLE_EQ(hardware_flops_per_token(s, "selective"), model + 4 * 4.0 * 128 * 256);
  EXPECT_DOUBLE_EQ(hardware_flops_per_token(s, "full"), model + 4 * (24.0 * 128 * 128 + 4.0 * 128 * 256));
}

TEST(PlanModel, InvalidLayoutsAreRejectedWithTheKey) {
  Config base;
  base.model.layers = 8, base.model.heads = 4, base.model.hidden = 64;
  base.train.global_batch = 16, base.train.micro_batch = 1;
  auto layout = [](int t, int p, int d, int v = 1) {
    PlanLayout l;
    l.tensor = t, l.pipeline = p, l.data = d, l.virtual_stages = v, l.micro_batch = 1, l.global_batch = 16;
    return l;
  };
  EXPECT_NO_THROW(check_layout(base, layout(2, 2, 2)));
  test::expect_error([&] { check_layout(base, layout(3, 1, 1)); }, ErrorKind::config, {"parallel.tensor", "heads"});
  test::expect_error([&] { check_layout(base, layout(1, 3, 1)); }, ErrorKind::config, {"parallel.pipeline"});
  test::expect_error([&] { check_layout(base, layout(1, 1, 3)); }, ErrorKind::config, {"train.global_batch"});
  test::expect_error([&] { check_layout(base, layout(1, 2, 1, 8)); }, ErrorKind::config,
                     {"parallel.pipeline", "model.layers"});
  test::expect_error([&] { check_layout(base, layout(1, 1, 1, 2)); }, ErrorKind::config,
                     {"parallel.virtual_stages", "pipeline > 1"});
  PlanLayout odd = layout(1, 4, 1, 2);
  odd.global_batch = 6;  // 6 micro-batches, not a multiple of 4 pipeline ranks
  test::expect_error([&] { check_layout(base, odd); }, ErrorKind::config, {"parallel.virtual_stages", "multiple"});
  // Features this build cannot train yet are still valid layouts for the planner.
  PlanLayout future = layout(2, 2, 2, 2);
  future.sequence_parallel = true, future.zero_stage = 3, future.precision = "bf16";
  EXPECT_NO_THROW(check_layout(base, future));
}

// The shipped GPT-3 175B layout (bf16, sequence parallel, ZeRO-1) is valid on 1024 and 4096 ranks, and a
// real run of it would be accepted too (train.precision=bf16 is built); 1000 ranks break the layout.
TEST(PlanModel, ValidateLayoutAcceptsTheGpt3Layout) {
  const Config c = load_config(std::string(STRATA_SOURCE_DIR) + "/configs/gpt3-175b.ini", {});
  EXPECT_NO_THROW(validate_layout(c, 1024));
  EXPECT_NO_THROW(validate_layout(c, 4096));
  EXPECT_NO_THROW(validate_config(c, 1024));
  test::expect_error([&] { validate_layout(c, 1000); }, ErrorKind::config, {"parallel.tensor", "1000"});
}

}  // namespace
}  // namespace strata
