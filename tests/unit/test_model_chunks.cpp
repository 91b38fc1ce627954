// Model chunks for the interleaved pipeline (ModelPartition::chunks, pipeline_partition): every block is
// held by exactly one (stage, chunk), chunk c of stage p being virtual stage c*P + p; a rank's layout
// lists its chunks' blocks in chunk order between the embedding and the head, get() refuses blocks it
// does not hold; uneven splits are config errors. A model of two chunks on one rank, run chunk by chunk
// through forward_stage/backward_stage (as the executor does, the output of chunk 0 copied into chunk 1's
// input), gives the whole model's loss and gradients bit for bit, and reports every gradient range once.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "src/gpt_model.h"
#include "src/param_init.h"
#include "tests/unit/test_util.h"

namespace strata {
namespace {

GptShape small_shape(int layers) {
  GptShape s;
  s.layers = layers;
  s.hidden = 16;
  s.heads = 2;
  s.seq_len = 8;
  s.vocab_size = 23;
  return s;
}

TEST(ModelChunks, EveryBlockIsHeldByOneVirtualStage) {
  for (int p = 1; p <= 4; ++p) {
    for (int v = 1; v <= 3; ++v) {
      const int layers = p * v * 2;
      const GptShape shape = small_shape(layers);
      std::vector<int> holder(layers, -1);
      for (int s = 0; s < p; ++s) {
        SCOPED_TRACE("P=" + std::to_string(p) + " V=" + std::to_string(v) + " stage " + std::to_string(s));
        const ModelPartition part = pipeline_partition(layers, p, s, v);
        EXPECT_EQ(part.chunks, v);
        EXPECT_EQ(part.local_layers(), 2 * v);
        EXPECT_EQ(part.has_embedding, s == 0);
        EXPECT_EQ(part.has_head, s == p - 1);
        const ParamLayout layout(shape, part);
        std::size_t expect_offset = layout.embedding_range().count;
        for (int local = 0; local < part.local_layers(); ++local) {
          const int c = local / 2, layer = (c * p + s) * 2 + local % 2;  // virtual stage c*P + s, 2 blocks each
          EXPECT_EQ(part.local_index(layer), local);
          EXPECT_EQ(holder[layer], -1) << "block " << layer << " held twice";
          holder[layer] = c * p + s;
          // Blocks lie in chunk order, each right after the previous one.
          const ParamLayout::Range r = layout.block_range(layer);
          EXPECT_EQ(r.offset, expect_offset) << "block " << layer;
          expect_offset += r.count;
        }
        EXPECT_EQ(expect_offset + layout.head_range().count, layout.total());
        for (int layer = 0; layer < layers; ++layer) {
          if (part.local_index(layer) < 0) {
            EXPECT_ANY_THROW(layout.get(ParamKind::ln1_w, layer)) << layer;
          }
        }
      }
      for (int layer = 0; layer < layers; ++layer) EXPECT_EQ(holder[layer], layer / 2) << "block " << layer;
    }
  }
  test::expect_error([] { pipeline_partition(6, 2, 0, 2); }, ErrorKind::config,
                     {"model.layers = 6", "parallel.virtual_stages"});
}

TEST(ModelChunks, TwoChunksRunChunkByChunkEqualTheWholeModel) {
  const GptShape shape = small_shape(4);
  const int batch = 2;
  std::mt19937 gen(5);
  std::uniform_int_distribution<int32_t> tok(0, shape.vocab_size - 1);
  std::vector<int32_t> tokens(batch * shape.seq_len), targets(batch * shape.seq_len);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = tok(gen);
    targets[i] = tok(gen);
  }
  auto be = make_cpu_backend();
  GptModel whole(*be, shape, ModelPartition{}, batch);
  // One stage with two chunks of two blocks: the embedding on chunk 0, the head on chunk 1, and (P = 1)
  // the blocks in layer order, so both models share one layout.
  const ModelPartition part = pipeline_partition(shape.layers, 1, 0, 2);
  GptModel chunked(*be, shape, part, batch, Recompute::none, nullptr, 2);
  ASSERT_EQ(chunked.layout().total(), whole.layout().total());
  std::vector<float> params;
  init_parameters(params, whole.layout(), shape, 9);
  whole.set_parameters(params);
  chunked.set_parameters(params);
  std::vector<std::size_t> ready;
  chunked.set_grads_ready([&](const ParamLayout::Range& r) { ready.push_back(r.offset); });
  const float dloss = 1.0f / static_cast<float>(tokens.size());
  const double want = whole.forward_backward(tokens.data(), targets.data(), true, dloss);

  const std::size_t n = chunked.stage_activation_floats();
  EXPECT_EQ(chunked.forward_stage(0, 1, tokens.data(), targets.data(), true, dloss), 0.0);
  std::copy(chunked.stage_output(1), chunked.stage_output(1) + n, chunked.stage_input(0));  // any slot, any chunk
  const double got = chunked.forward_stage(1, 0, tokens.data(), targets.data(), true, dloss);
  chunked.backward_stage(1, 0);
  // input_grad() of chunk 1 is the output_grad() chunk 0 starts from (one buffer).
  EXPECT_EQ(chunked.input_grad(), chunked.output_grad());
  chunked.backward_stage(0, 1);
  EXPECT_EQ(got, want);
  EXPECT_EQ(chunked.get_gradients(), whole.get_gradients());
  const ParamLayout& lay = chunked.layout();
  EXPECT_EQ(ready, (std::vector<std::size_t>{lay.head_range().offset, lay.block_range(3).offset,
                                             lay.block_range(2).offset, lay.block_range(1).offset,
                                             lay.block_range(0).offset, 0}));
  EXPECT_ANY_THROW(chunked.forward_stage(2, 0, tokens.data(), targets.data(), false, 0.0f));  // no chunk 2
  EXPECT_ANY_THROW(chunked.forward_stage(1, 2, tokens.data(), targets.data(), false, 0.0f));  // no slot 2
}

}  // namespace
}  // namespace strata
