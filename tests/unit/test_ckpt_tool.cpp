// Tests of strata-ckpt's model side: full checkpoint tensors <-> a single-rank model's flat buffer
// (src/checkpoint_model.h) and generation (src/sampler.h): logits consistent with the model's loss and
// causal, greedy and top-k sampling, determinism for a seed.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "src/checkpoint_model.h"
#include "src/param_init.h"
#include "src/sampler.h"
#include "test_util.h"

namespace strata {
namespace {

using test::expect_error;

GptShape tiny_shape() {
  GptShape s;
  s.layers = 2;
  s.hidden = 16;
  s.heads = 2;
  s.seq_len = 8;
  s.vocab_size = 131;  // padded to 256
  return s;
}

std::vector<float> perturbed_parameters(const ParamLayout& layout, const GptShape& s) {
  std::vector<float> flat;
  init_parameters(flat, layout, s, 99);
  for (const ParamTensor& t : layout.tensors()) {
    const std::size_t live = t.kind == ParamKind::wte ? static_cast<std::size_t>(s.vocab_size) * s.hidden : t.count;
    for (std::size_t i = 0; i < live; ++i) flat[t.offset + i] += 0.3f * static_cast<float>(std::sin(0.1 * (t.offset + i)));
  }
  return flat;
}

TEST(CheckpointModel, TensorsAndFlatBufferRoundTrip) {
  const GptShape s = tiny_shape();
  const ParamLayout layout(s, ModelPartition{});
  const std::vector<float> flat = perturbed_parameters(layout, s);
  const TensorList tensors = tensors_of(layout, s, flat);
  check_gpt2_tensors(tensors, gpt2_dims(s), "test");  // the canonical set: wte (131, 16), no padding
  EXPECT_EQ(get_tensor(tensors, "wte.weight", "t").shape, (std::vector<int64_t>{131, 16}));
  EXPECT_EQ(get_tensor(tensors, "h.1.mlp.c_proj.weight", "t").shape, (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(flat_parameters(layout, s, tensors, "t"), flat);  // padded rows are zero in both

  TensorList bad = tensors;
  bad[2].shape = {17};
  expect_error([&] { flat_parameters(layout, s, bad, "ckpt/step_1"); }, ErrorKind::data,
               {"ckpt/step_1", "'h.0.ln_1.weight'", "(17,)", "needs (16,)"});
  bad.erase(bad.begin() + 2);
  expect_error([&] { flat_parameters(layout, s, bad, "ckpt/step_1"); }, ErrorKind::data,
               {"ckpt/step_1", "no tensor 'h.0.ln_1.weight'"});
}

TEST(Sampler, LogitsMatchTheLossAndAreCausal) {
  const GptShape s = tiny_shape();
  auto be = make_cpu_backend();
  GptModel model(*be, s, ModelPartition{}, 1);
  model.set_parameters(perturbed_parameters(model.layout(), s));
  const std::vector<int32_t> tokens = {5, 17, 130, 0, 64, 64, 1, 99};
  const std::vector<float> logits = next_token_logits(model, tokens);
  ASSERT_EQ(logits.size(), tokens.size() * s.vocab_size);
  // The loss of predicting targets = the tokens shifted by one, from these logits and from the model.
  std::vector<int32_t> targets = {17, 130, 0, 64, 64, 1, 99, 3};
  double loss = 0;
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    const float* row = logits.data() + r * s.vocab_size;
    double max = row[0], sum = 0;
    for (int i = 0; i < s.vocab_size; ++i) max = std::max<double>(max, row[i]);
    for (int i = 0; i < s.vocab_size; ++i) sum += std::exp(row[i] - max);
    loss += std::log(sum) + max - row[targets[r]];
  }
  const double model_loss = model.forward_backward(tokens.data(), targets.data(), false, 0.0f);
  EXPECT_NEAR(loss, model_loss, 1e-4 * std::abs(model_loss));
  // Causal: the first three positions' logits do not depend on the tokens after them.
  const std::vector<float> prefix = next_token_logits(model, std::span(tokens).first(3));
  for (std::size_t i = 0; i < prefix.size(); ++i) ASSERT_EQ(prefix[i], logits[i]);
}

TEST(Sampler, GreedyTopKAndSeeds) {
  const std::vector<float> logits = {0.0f, 3.0f, -1.0f, 3.0f, 2.5f, -9.0f};
  std::uint64_t rng = 1;
  SampleOptions greedy{0.0, 0, 1};
  EXPECT_EQ(sample_token(logits, greedy, rng), 1);  // ties: the smaller id
  SampleOptions top1{1.0, 1, 1};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_token(logits, top1, rng), 1);
  SampleOptions top3{2.0, 3, 1};
  std::set<int32_t> seen;
  for (int i = 0; i < 300; ++i) seen.insert(sample_token(logits, top3, rng));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3, 4}));
  SampleOptions all{5.0, 0, 1};
  seen.clear();
  for (int i = 0; i < 2000; ++i) seen.insert(sample_token(logits, all, rng));
  EXPECT_EQ(seen.size(), logits.size());
  std::uint64_t a = 42, b = 42;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(sample_token(logits, all, a), sample_token(logits, all, b));
}

TEST(Sampler, GenerateIsDeterministicAndSlidesTheContext) {
  const GptShape s = tiny_shape();
  auto be = make_cpu_backend();
  GptModel model(*be, s, ModelPartition{}, 1);
  model.set_parameters(perturbed_parameters(model.layout(), s));
  std::vector<int32_t> a = {3, 4}, b = {3, 4};
  const SampleOptions o{1.0, 10, 77};
  EXPECT_EQ(generate_tokens(model, a, 20, o), 20);  // longer than seq_len 8: the context slides
  generate_tokens(model, b, 20, o);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 22u);
  // Stops after the stop token: generate greedily and stop at what the first greedy step draws.
  std::vector<int32_t> c = {3, 4};
  const SampleOptions g{0.0, 0, 1};
  generate_tokens(model, c, 1, g);
  std::vector<int32_t> d = {3, 4};
  EXPECT_EQ(generate_tokens(model, d, 10, g, c.back()), 1);
  expect_error([&] { next_token_logits(model, std::vector<int32_t>(9, 1)); }, ErrorKind::config, {"9 tokens", "1 to 8"});
  expect_error([&] { next_token_logits(model, std::vector<int32_t>{131}); }, ErrorKind::config, {"token 131"});
}

}  // namespace
}  // namespace strata
