// The whole GPT model against an independent double-precision reference: forward loss, and every
// parameter's gradient against central finite differences of the reference; micro-batch accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "src/gpt_model.h"
#include "src/param_init.h"
#include "tests/unit/gpt_reference.h"

namespace strata {
namespace {

struct Case {
  GptShape shape;
  int batch;
  std::vector<int32_t> tokens, targets;
  std::vector<float> params;
};

Case make_case(int layers, int hidden, int heads, int seq, int vocab, int batch, uint64_t seed) {
  Case c;
  c.shape.layers = layers;
  c.shape.hidden = hidden;
  c.shape.heads = heads;
  c.shape.seq_len = seq;
  c.shape.vocab_size = vocab;
  c.batch = batch;
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  for (int i = 0; i < batch * seq; ++i) {
    c.tokens.push_back(tok(gen));
    c.targets.push_back(tok(gen));
  }
  ParamLayout layout(c.shape, ModelPartition{});
  init_parameters(c.params, layout, c.shape, seed);
  // Larger-than-default weights (and non-trivial LayerNorm parameters) so every path carries signal.
  std::normal_distribution<float> jitter(0.0f, 0.3f);
  for (const ParamTensor& t : layout.tensors()) {
    const std::size_t live = t.kind == ParamKind::wte ? static_cast<std::size_t>(vocab) * hidden : t.count;
    for (std::size_t i = 0; i < live; ++i) c.params[t.offset + i] = 10.0f * c.params[t.offset + i] + jitter(gen) * 0.3f;
  }
  return c;
}

TEST(GptModel, LossAndEveryGradientMatchDoubleReference) {
  for (const auto& [layers, hidden, heads, seq, vocab, batch] :
       std::vector<std::array<int, 6>>{{2, 8, 2, 5, 11, 2}, {1, 6, 3, 7, 5, 1}, {2, 4, 1, 1, 3, 3}}) {
    SCOPED_TRACE("L=" + std::to_string(layers) + " C=" + std::to_string(hidden) + " NH=" + std::to_string(heads) +
                 " T=" + std::to_string(seq) + " V=" + std::to_string(vocab) + " B=" + std::to_string(batch));
    Case c = make_case(layers, hidden, heads, seq, vocab, batch, 7 + layers + seq);
    auto be = make_cpu_backend();
    GptModel model(*be, c.shape, ModelPartition{}, batch);
    model.set_parameters(c.params);
    const double n = static_cast<double>(batch) * seq;
    const double loss = model.forward_backward(c.tokens.data(), c.targets.data(), true, static_cast<float>(1.0 / n)) / n;
    const std::vector<float> grads = model.get_gradients();

    std::vector<double> ref(c.params.begin(), c.params.end());
    const double ref_loss = test::reference_gpt_loss(ref, model.layout(), c.shape, batch, c.tokens, c.targets);
    EXPECT_NEAR(loss, ref_loss, 1e-5 * std::abs(ref_loss));

    const double h = 1e-5;
    int checked = 0;
    for (const ParamTensor& t : model.layout().tensors()) {
      for (std::size_t i = 0; i < t.count; ++i) {
        const std::size_t k = t.offset + i;
        const double saved = ref[k];
        ref[k] = saved + h;
        const double up = test::reference_gpt_loss(ref, model.layout(), c.shape, batch, c.tokens, c.targets);
        ref[k] = saved - h;
        const double down = test::reference_gpt_loss(ref, model.layout(), c.shape, batch, c.tokens, c.targets);
        ref[k] = saved;
        const double fd = (up - down) / (2 * h);
        ASSERT_NEAR(grads[k], fd, 2e-5 + 2e-3 * std::abs(fd)) << t.name() << "[" << i << "]";
        ++checked;
      }
    }
    EXPECT_EQ(checked, static_cast<int>(model.num_params()));
  }
}

TEST(GptModel, PaddedVocabularyRowsGetNoGradientAndDoNotChangeLoss) {
  Case c = make_case(1, 8, 2, 4, 11, 2, 3);
  auto be = make_cpu_backend();
  GptModel model(*be, c.shape, ModelPartition{}, c.batch);
  ASSERT_EQ(c.shape.padded_vocab(), 128);
  model.set_parameters(c.params);
  const double loss = model.forward_backward(c.tokens.data(), c.targets.data(), true, 1.0f);
  const std::vector<float> grads = model.get_gradients();
  const ParamTensor& wte = model.layout().get(ParamKind::wte);
  for (std::size_t i = static_cast<std::size_t>(11) * 8; i < wte.count; ++i) ASSERT_EQ(grads[wte.offset + i], 0.0f);
  // Non-zero padding rows would only change padded logits, which are masked: same loss.
  for (std::size_t i = static_cast<std::size_t>(11) * 8; i < wte.count; ++i) c.params[wte.offset + i] = 3.0f;
  model.set_parameters(c.params);
  model.zero_grads();
  EXPECT_EQ(model.forward_backward(c.tokens.data(), c.targets.data(), false, 0.0f), loss);
}

TEST(GptModel, MicroBatchesAccumulateToTheFullBatchGradient) {
  Case c = make_case(2, 16, 4, 8, 19, 4, 11);
  auto be = make_cpu_backend();
  GptModel full(*be, c.shape, ModelPartition{}, 4);
  GptModel half(*be, c.shape, ModelPartition{}, 2);
  full.set_parameters(c.params);
  half.set_parameters(c.params);
  const float dloss = 1.0f / 32.0f;
  const double l_full = full.forward_backward(c.tokens.data(), c.targets.data(), true, dloss);
  double l_half = half.forward_backward(c.tokens.data(), c.targets.data(), true, dloss);
  l_half += half.forward_backward(c.tokens.data() + 16, c.targets.data() + 16, true, dloss);
  EXPECT_NEAR(l_full, l_half, 1e-5 * std::abs(l_full));
  const auto g_full = full.get_gradients(), g_half = half.get_gradients();
  for (std::size_t i = 0; i < g_full.size(); ++i) ASSERT_NEAR(g_full[i], g_half[i], 1e-6 + 1e-4 * std::abs(g_full[i])) << i;
}

TEST(GptModel, ForwardBackwardIsDeterministic) {
  Case c = make_case(2, 16, 4, 8, 19, 2, 5);
  auto be = make_cpu_backend();
  GptModel a(*be, c.shape, ModelPartition{}, 2), b(*be, c.shape, ModelPartition{}, 2);
  a.set_parameters(c.params);
  b.set_parameters(c.params);
  EXPECT_EQ(a.forward_backward(c.tokens.data(), c.targets.data(), true, 0.01f),
            b.forward_backward(c.tokens.data(), c.targets.data(), true, 0.01f));
  EXPECT_EQ(a.get_gradients(), b.get_gradients());
}

TEST(GptModel, GradsReadyRangesTileTheBufferAndHoldFinalGradients) {
  Case c = make_case(3, 8, 2, 4, 11, 2, 13);
  auto be = make_cpu_backend();
  GptModel model(*be, c.shape, ModelPartition{}, c.batch);
  model.set_parameters(c.params);
  std::vector<ParamLayout::Range> ranges;
  std::vector<std::vector<float>> snapshots;
  model.set_grads_ready([&](const ParamLayout::Range& r) {
    ranges.push_back(r);
    const std::vector<float> g = model.get_gradients();
    snapshots.emplace_back(g.begin() + r.offset, g.begin() + r.offset + r.count);
  });
  model.forward_backward(c.tokens.data(), c.targets.data(), true, 0.1f);
  const ParamLayout& lay = model.layout();
  ASSERT_EQ(ranges.size(), 5u);  // head, blocks 2, 1, 0, embedding
  EXPECT_EQ(ranges[0].offset, lay.head_range().offset);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ranges[1 + i].offset, lay.block_range(2 - i).offset);
  EXPECT_EQ(ranges[4].offset, 0u);
  std::size_t covered = 0;
  for (const auto& r : ranges) covered += r.count;
  EXPECT_EQ(covered, lay.total());
  const std::vector<float> final_grads = model.get_gradients();
  for (std::size_t i = 0; i < ranges.size(); ++i)
    EXPECT_TRUE(std::equal(snapshots[i].begin(), snapshots[i].end(), final_grads.begin() + ranges[i].offset))
        << "range " << i << " changed after it was reported ready";
}

// In both precisions (bf16: the activations stored in bf16, recomputed by the same kernels).
TEST(GptModel, RecomputeIsBitIdenticalAndHoldsLessActivationMemory) {
  Case c = make_case(3, 16, 4, 8, 19, 2, 17);
  auto be = make_cpu_backend();
  for (Precision precision : {Precision::fp32, Precision::bf16}) {
    SCOPED_TRACE(precision_name(precision));
    std::vector<std::size_t> bytes;
    std::vector<std::vector<float>> grads;
    std::vector<double> losses;
    for (Recompute mode : {Recompute::none, Recompute::selective, Recompute::full}) {
      GptModel model(*be, c.shape, ModelPartition{}, c.batch, mode, nullptr, 1, false, precision);
      model.set_parameters(c.params);
      // Two micro-batches: the second backward must not see the first's recomputed state.
      losses.push_back(model.forward_backward(c.tokens.data(), c.targets.data(), true, 0.05f));
      losses.push_back(model.forward_backward(c.targets.data(), c.tokens.data(), true, 0.05f));
      grads.push_back(model.get_gradients());
      bytes.push_back(model.activation_bytes());
    }
    EXPECT_EQ(losses[0], losses[2]);
    EXPECT_EQ(losses[0], losses[4]);
    EXPECT_EQ(losses[1], losses[5]);
    EXPECT_EQ(grads[0], grads[1]) << "selective recompute changed the gradients";
    EXPECT_EQ(grads[0], grads[2]) << "full recompute changed the gradients";
    EXPECT_LT(bytes[1], bytes[0]);
    EXPECT_LT(bytes[2], bytes[1]);
    // full keeps one block's activations instead of three: at least half the per-block memory is gone
    EXPECT_LT(static_cast<double>(bytes[2]), 0.75 * static_cast<double>(bytes[0]));
  }
}

// train.precision=bf16 stores the activations that only feed GEMMs and the attention in bf16: per block
// ln1 (C), qkv (3C), the attention output (C), ln2 (C), the MLP's pre-activation and GELU output (4C each)
// per row, and the final LayerNorm's output (C): 2 bytes less per value than fp32, everything else equal.
TEST(GptModel, Bf16StoresGemmActivationsInHalfTheBytes) {
  Case c = make_case(3, 16, 4, 8, 19, 2, 17);
  auto be = make_cpu_backend();
  const GptModel fp32(*be, c.shape, ModelPartition{}, c.batch, Recompute::none, nullptr, 1, false, Precision::fp32);
  const GptModel bf16(*be, c.shape, ModelPartition{}, c.batch, Recompute::none, nullptr, 1, false, Precision::bf16);
  const std::size_t rows = static_cast<std::size_t>(c.batch) * c.shape.seq_len, hidden = c.shape.hidden;
  const std::size_t halved = rows * hidden * (14 * static_cast<std::size_t>(c.shape.layers) + 1);
  EXPECT_EQ(fp32.activation_bytes() - bf16.activation_bytes(), halved * 2);
}

}  // namespace
}  // namespace strata
