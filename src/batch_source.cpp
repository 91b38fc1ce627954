// batch_source.cpp — see batch_source.h.
#include "src/batch_source.h"

#include <random>

#include "io/sample_order.h"
#include "io/token_dataset.h"
#include "kernels/error.h"

namespace strata {
namespace {

class ShardSource final : public BatchSource {
 public:
  ShardSource(const std::vector<std::string>& paths, int seq_len, int model_vocab, uint64_t seed, bool shuffle,
              const std::string& what)
      : dataset_(paths, what), reader_(dataset_, seq_len, seed, shuffle) {
    dataset_.check_model_vocab(model_vocab);
  }
  void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) override {
    reader_.read(first, static_cast<std::size_t>(count), inputs, targets);
  }
  std::string describe() const override {
    return dataset_.what() + ": " + std::to_string(dataset_.num_shards()) + " shards, " +
           std::to_string(dataset_.num_tokens()) + " tokens";
  }

 private:
  TokenDataset dataset_;
  BatchReader reader_;
};

class SyntheticSource final : public BatchSource {
 public:
  SyntheticSource(int seq_len, int vocab, uint64_t seed) : t_(seq_len), vocab_(vocab), seed_(seed) {}
  void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) override {
    for (int s = 0; s < count; ++s) {
      std::mt19937_64 gen(seed_ ^ ((first + static_cast<uint64_t>(s)) * 0x9E3779B97F4A7C15ull));
      std::uniform_int_distribution<int32_t> dist(0, vocab_ - 1);
      for (int i = 0; i <= t_; ++i) {
        const int32_t tok = dist(gen);
        if (i < t_) inputs[static_cast<std::size_t>(s) * t_ + i] = tok;
        if (i > 0) targets[static_cast<std::size_t>(s) * t_ + i - 1] = tok;
      }
    }
  }
  std::string describe() const override { return "synthetic tokens"; }

 private:
  int t_, vocab_;
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::string>& paths, int seq_len, int model_vocab,
                                               uint64_t seed, bool shuffle) {
  return std::make_unique<ShardSource>(paths, seq_len, model_vocab, seed, shuffle, shuffle ? "data.train" : "data.valid");
}

std::unique_ptr<BatchSource> make_synthetic_source(int seq_len, int vocab, uint64_t seed) {
  return std::make_unique<SyntheticSource>(seq_len, vocab, seed);
}

}  // namespace strata
