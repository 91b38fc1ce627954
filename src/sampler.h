// sampler.h — text generation with a single-rank GptModel (strata-ckpt sample and logits): the logits
// after every position of a context, and seeded sampling of the next token (temperature, top-k).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "src/gpt_model.h"

namespace strata {

struct SampleOptions {
  double temperature = 1.0;  // <= 0: greedy (the most likely token)
  int top_k = 0;             // > 0: sample among the k most likely tokens only
  std::uint64_t seed = 1234;
};

// Logits of the next token after each position of `context` (1..seq_len tokens): context.size() rows of
// vocab_size floats (padding columns dropped). `model` is whole (one rank) with micro_batch 1. Positions
// after the context are filled with token 0; the attention is causal, so they do not change the result.
std::vector<float> next_token_logits(GptModel& model, std::span<const std::int32_t> context);

// A token drawn from softmax(logits / temperature) restricted to the top_k largest logits (ties: the
// smaller id first), using and advancing `rng` (splitmix64, so the same seed gives the same text on
// every machine). Greedy for temperature <= 0.
std::int32_t sample_token(std::span<const float> logits, const SampleOptions& options, std::uint64_t& rng);

// Appends up to `count` sampled tokens to `tokens` (non-empty), each conditioned on the last seq_len
// tokens before it; stops after `stop` when it is drawn. Returns the number of tokens added.
int generate_tokens(GptModel& model, std::vector<std::int32_t>& tokens, int count, const SampleOptions& options,
                    std::optional<std::int32_t> stop = std::nullopt);

}  // namespace strata
