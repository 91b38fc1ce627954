// sampler.cpp — see sampler.h.
#include "src/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/error.h"

namespace strata {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<float> next_token_logits(GptModel& model, std::span<const std::int32_t> context) {
  const GptShape& s = model.shape();
  const std::size_t t = static_cast<std::size_t>(s.seq_len);
  STRATA_CHECK(model.micro_batch() == 1 && model.layout().partition().tensor_size == 1, internal,
               "next_token_logits needs a whole model with micro_batch 1");
  STRATA_CHECK(!context.empty() && context.size() <= t, config, "a context of ", context.size(),
               " tokens; the model takes 1 to ", t, " (model.seq_len)");
  for (const std::int32_t id : context)
    STRATA_CHECK(id >= 0 && id < s.vocab_size, config, "token ", id, " is outside the vocabulary [0, ",
                 s.vocab_size, ")");
  std::vector<std::int32_t> tokens(t, 0), targets(t, 0);
  std::copy(context.begin(), context.end(), tokens.begin());
  model.forward_backward(tokens.data(), targets.data(), false, 0.0f);
  const std::vector<float> all = model.get_logits();  // (T, Vp)
  const std::size_t vp = static_cast<std::size_t>(s.padded_vocab()), v = static_cast<std::size_t>(s.vocab_size);
  std::vector<float> out(context.size() * v);
  for (std::size_t r = 0; r < context.size(); ++r)
    std::copy(all.begin() + r * vp, all.begin() + r * vp + v, out.begin() + r * v);
  return out;
}

std::int32_t sample_token(std::span<const float> logits, const SampleOptions& o, std::uint64_t& rng) {
  STRATA_CHECK(!logits.empty(), internal, "sample_token of no logits");
  std::vector<std::int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto better = [&](std::int32_t a, std::int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  if (o.temperature <= 0) return *std::min_element(ids.begin(), ids.end(), better);
  std::size_t k = ids.size();
  if (o.top_k > 0 && static_cast<std::size_t>(o.top_k) < k) {
    k = static_cast<std::size_t>(o.top_k);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), better);
  }
  float max = logits[ids[0]];
  for (std::size_t i = 0; i < k; ++i) max = std::max(max, logits[ids[i]]);
  std::vector<double> weight(k);
  double sum = 0;
  for (std::size_t i = 0; i < k; ++i) sum += weight[i] = std::exp((logits[ids[i]] - max) / o.temperature);
  const double u = static_cast<double>(splitmix64(rng) >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (std::size_t i = 0; i < k; ++i) {
    acc += weight[i];
    if (u < acc) return ids[i];
  }
  return ids[k - 1];  // rounding: u within the last ulp of sum
}

int generate_tokens(GptModel& model, std::vector<std::int32_t>& tokens, int count, const SampleOptions& options,
                    std::optional<std::int32_t> stop) {
  STRATA_CHECK(!tokens.empty(), internal, "generate_tokens needs at least one context token");
  const std::size_t t = static_cast<std::size_t>(model.shape().seq_len), v = model.shape().vocab_size;
  std::uint64_t rng = options.seed;
  for (int i = 0; i < count; ++i) {
    const std::size_t n = std::min(tokens.size(), t);
    const std::vector<float> logits = next_token_logits(model, std::span(tokens).last(n));
    const std::int32_t next = sample_token(std::span(logits).last(v), options, rng);
    tokens.push_back(next);
    if (stop && next == *stop) return i + 1;
  }
  return count;
}

}  // namespace strata
