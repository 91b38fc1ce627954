// sample_order.cpp — the keyed Feistel permutation and the batch reader.
#include "io/sample_order.h"

#include <algorithm>
#include <utility>

#include "io/token_dataset.h"
#include "kernels/counter_rng.h"
#include "kernels/error.h"

namespace strata {

namespace {

constexpr int feistel_rounds = 6;

}  // namespace

SampleOrder::SampleOrder(std::uint64_t num_samples, std::uint64_t seed, bool shuffle)
    : num_samples_(num_samples), seed_(seed), shuffle_(shuffle) {
  STRATA_CHECK(num_samples_ > 0, internal, "SampleOrder needs at least one sample");
  while (half_bits_ < 32 && (std::uint64_t{1} << (2 * half_bits_)) < num_samples_) ++half_bits_;
}

std::uint64_t SampleOrder::permute(std::uint64_t epoch, std::uint64_t i) const {
  STRATA_CHECK(i < num_samples_, internal, "SampleOrder::permute: index ", i, " outside [0, ", num_samples_, ")");
  if (!shuffle_ || num_samples_ == 1) return i;
  const unsigned h = half_bits_;
  const std::uint64_t mask = h == 32 ? 0xffffffffULL : (std::uint64_t{1} << h) - 1;
  std::uint64_t round_keys[feistel_rounds];
  const std::uint64_t key = splitmix64(seed_ ^ splitmix64(epoch + 0x5eed5eed5eedULL));
  for (int r = 0; r < feistel_rounds; ++r) round_keys[r] = splitmix64(key + static_cast<std::uint64_t>(r));
  // A Feistel network is a bijection on [0, 4^h); walking the cycle from i until it re-enters [0, S)
  // restricts it to a bijection on [0, S).
  std::uint64_t x = i;
  do {
    std::uint64_t left = x >> h, right = x & mask;
    for (int r = 0; r < feistel_rounds; ++r) {
      const std::uint64_t f = splitmix64(right ^ round_keys[r]) & mask;
      left = std::exchange(right, left ^ f);
    }
    x = (left << h) | right;
  } while (x >= num_samples_);
  return x;
}

namespace {
std::uint64_t samples_of(const TokenDataset& dataset, int seq_len) {
  STRATA_CHECK(seq_len > 0, config, "model.seq_len is ", seq_len, "; expected a positive integer");
  const std::uint64_t n = dataset.num_tokens();
  const auto need = static_cast<std::uint64_t>(seq_len) + 1;
  STRATA_CHECK(n >= need, data, dataset.what(), ": sequence longer than the data: model.seq_len = ", seq_len,
               " needs at least ", need, " tokens per sample but the dataset (", dataset.shard(0).path(),
               dataset.num_shards() > 1 ? ", ..." : "", ") holds only ", n,
               " tokens; use more data or a shorter model.seq_len");
  return (n - 1) / static_cast<std::uint64_t>(seq_len);
}
}  // namespace

BatchReader::BatchReader(const TokenDataset& dataset, int seq_len, std::uint64_t seed, bool shuffle)
    : dataset_(&dataset), seq_len_(seq_len), order_(samples_of(dataset, seq_len), seed, shuffle),
      buffer_(static_cast<std::size_t>(seq_len) + 1) {}

void BatchReader::read(std::uint64_t first, std::size_t count, std::int32_t* inputs, std::int32_t* targets) const {
  const auto len = static_cast<std::size_t>(seq_len_);
  for (std::size_t j = 0; j < count; ++j) {
    const std::uint64_t s = order_.sample(first + j);
    dataset_->read(s * len, len + 1, buffer_.data());
    std::copy_n(buffer_.begin(), len, inputs + j * len);
    std::copy_n(buffer_.begin() + 1, len, targets + j * len);
  }
}

}  // namespace strata
