// Planner memory (src/plan_memory.h): ZeRO stages as implemented, activations per recompute and
// sequence-parallel mode (and per block, against what GptModel holds), and the micro-batches in flight against the real 1F1B schedule lists.
#include <gtest/gtest.h>

#include "kernels/backend.h"
#include "parallel/pipeline_schedule.h"
#include "src/gpt_model.h"
#include "src/plan_memory.h"

namespace strata {
namespace {

GptShape small() {
  GptShape s;
  s.layers = 8, s.hidden = 64, s.heads = 4, s.seq_len = 32, s.vocab_size = 257;
  return s;
}

PlanLayout layout(int zero, const std::string& precision) {
  PlanLayout l;
  l.data = 8, l.zero_stage = zero, l.precision = precision, l.micro_batch = 2, l.global_batch = 16;
  return l;
}

TEST(PlanMemory, ZeroStagesAsImplemented) {
  const Hardware hw = builtin_hardware("a100-80gb");
  const RankCounts n{1000, 125, 100};
  auto mem = [&](int zero, const std::string& p) { return rank_memory(small(), layout(zero, p), hw, 0, n); };
  MemoryBreakdown m = mem(0, "bf16");
  EXPECT_EQ(m.weights, 2000);
  EXPECT_EQ(m.grads, 4000);
  EXPECT_EQ(m.master, 4000);
  EXPECT_EQ(m.adam, 8000);
  m = mem(1, "bf16");
  EXPECT_EQ(m.weights, 2000);
  EXPECT_EQ(m.grads, 4000);
  EXPECT_EQ(m.master, 500);
  EXPECT_EQ(m.adam, 1000);
  m = mem(2, "bf16");  // full local gradients plus the reduced shard (parallel/data_parallel.h)
  EXPECT_EQ(m.grads, 4500);
  m = mem(3, "bf16");  // shard plus gather buffers (parallel/zero3_params.h); gradient buffers pooled alike,
                       // their receive buffers (1/8 of them) and the shard (parallel/zero3_grads.h)
  EXPECT_EQ(m.weights, 2 * (125 + 100));
  EXPECT_DOUBLE_EQ(m.grads, 4 * (100 + 100.0 / 8 + 125));
  m = mem(1, "fp32");  // fp32 parameters are the master weights
  EXPECT_EQ(m.weights, 4000);
  EXPECT_EQ(m.master, 0);
  EXPECT_DOUBLE_EQ(m.reserve, 3.0 * 1024 * 1024 * 1024);
}

TEST(PlanMemory, ActivationsPerBlock) {
  const GptShape s = small();
  PlanLayout l = layout(1, "fp32");
  const double tokens = 2 * 32, c = 64;
  // No recompute on one tensor rank: 16 elements per token and C (GptModel's BlockActs and x), plus
  // LayerNorm and softmax statistics (4 + heads floats per token).
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * (c * 4 * 16 + 4 * (4 + 4)));
  l.recompute = "selective";
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * (c * 4 * 15 + 4 * (4 + 4)));
  l.recompute = "full";
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * c * 4);
  // Tensor 4: 12 of the 16 elements split; with sequence parallelism all 16. bf16: the residual stream (2
  // elements) stays fp32, the LayerNorm outputs (2) and the 12 column-parallel ones take 2 bytes.
  l.tensor = 4, l.recompute = "none", l.precision = "bf16";
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * (c * (4 * 2 + 2 * (2 + 3)) + 4 * (4 + 1)));
  l.sequence_parallel = true;
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * (c * (4 * 0.5 + 2 * (0.5 + 3)) + 4 * (1 + 1)));
  l.recompute = "full";
  EXPECT_DOUBLE_EQ(activation_bytes_per_block(s, l), tokens * c * 4 / 4);
}

// The planned bytes of a block are what GptModel holds for one more block (one tensor rank), in both
// precisions and every recompute mode.
TEST(PlanMemory, ActivationsPerBlockAreWhatTheModelHolds) {
  auto be = make_cpu_backend();
  for (const char* precision : {"fp32", "bf16"}) {
    for (const char* recompute : {"none", "selective", "full"}) {
      SCOPED_TRACE(std::string(precision) + ", recompute " + recompute);
      PlanLayout l = layout(0, precision);
      l.recompute = recompute;
      auto held = [&](int layers) {
        GptShape s = small();
        s.layers = layers;
        const GptModel m(*be, s, ModelPartition{}, l.micro_batch, parse_recompute(recompute), nullptr, 1, false,
                         parse_precision(precision));
        return static_cast<double>(m.activation_bytes());
      };
      EXPECT_DOUBLE_EQ(held(3) - held(2), activation_bytes_per_block(small(), l));
    }
  }
}

TEST(PlanMemory, InFlightMatchesThe1F1BScheduleLists) {
  for (int p : {2, 3, 4, 8}) {
    for (int m : {1, 2, 5, 8, 16}) {
      PlanLayout l;
      l.pipeline = p, l.micro_batch = 1, l.global_batch = m;
      for (int stage = 0; stage < p; ++stage)
        EXPECT_EQ(peak_in_flight(l, stage), pipeline_peak_in_flight(pipeline_1f1b_schedule(p, stage, m)))
            << "P " << p << " M " << m << " stage " << stage;
    }
  }
}

TEST(PlanMemory, InFlightMatchesTheInterleavedScheduleLists) {
  for (int p : {2, 4}) {
    for (int v : {2, 3}) {
      for (int m : {p, 2 * p, 4 * p}) {
        PlanLayout l;
        l.pipeline = p, l.virtual_stages = v, l.micro_batch = 1, l.global_batch = m;
        for (int stage = 0; stage < p; ++stage)
          EXPECT_EQ(peak_in_flight(l, stage), pipeline_peak_in_flight(pipeline_interleaved_schedule(p, stage, m, v)))
              << "P " << p << " V " << v << " M " << m << " stage " << stage;
      }
    }
  }
}

TEST(PlanMemory, InterleavingHoldsMoreChunksOfFewerLayers) {
  PlanLayout l;
  l.pipeline = 4, l.virtual_stages = 2, l.micro_batch = 1, l.global_batch = 16;
  // Megatron-LM's interleaved warmup: 2(P - r - 1) + (V - 1)P forwards, then one more in steady state.
  EXPECT_EQ(peak_in_flight(l, 0), 2 * 3 + 4 + 1);
  EXPECT_EQ(peak_in_flight(l, 3), 0 + 4 + 1);
  l.global_batch = 4;  // at most M*V chunk-micro-batches exist
  EXPECT_EQ(peak_in_flight(l, 0), 8);
  // Rank 0 holds 11 chunk-micro-batches of 1 block instead of 4 micro-batches of 2 blocks (each unit
  // also keeps the output it sends on).
  GptShape s = small();
  l.global_batch = 16;
  const Hardware hw = builtin_hardware("h100-sxm");
  PlanLayout flat = l;
  flat.virtual_stages = 1;
  const RankCounts n{1000, 1000, 100};
  const MemoryBreakdown a = rank_memory(s, l, hw, 0, n), b = rank_memory(s, flat, hw, 0, n);
  EXPECT_EQ(a.layers_per_slot, 1);
  EXPECT_EQ(b.layers_per_slot, 2);
  const double block = activation_bytes_per_block(s, l), out = 32.0 * 64 * 4;
  EXPECT_DOUBLE_EQ(a.activations, 11 * (block + out));
  EXPECT_DOUBLE_EQ(b.activations, 4 * (2 * block + out));
}

}  // namespace
}  // namespace strata
