// batch_source.cpp — see batch_source.h.
#include "src/batch_source.h"

#include <algorithm>
#include <random>

#include "kernels/error.h"
#include "src/config.h"

namespace strata {
namespace {

class ShardSource final : public BatchSource {
 public:
  explicit ShardSource(LoaderOptions options) : loader_(std::move(options)) {}
  void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) override {
    STRATA_CHECK(count >= 0, internal, "BatchSource::read of ", count, " samples");
    loader_.read(first, static_cast<std::size_t>(count), inputs, targets);
  }
  std::string describe() const override { return loader_.describe(); }
  void seek(LoaderState state) override { loader_.seek(state); }
  std::optional<LoaderState> state() const override { return loader_.state(); }
  LoaderStats stats() const override { return loader_.stats(); }

 private:
  PrefetchLoader loader_;
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

LoaderOptions config_loader_options(const Config& cfg, int data_rank, int data_size) {
  LoaderOptions o;
  o.seq_len = cfg.model.seq_len;
  o.model_vocab = cfg.model.vocab_size;
  o.schedule.global_batch = static_cast<uint64_t>(cfg.train.global_batch);
  o.schedule.micro_batch = static_cast<uint64_t>(cfg.train.micro_batch);
  o.schedule.data_rank = static_cast<uint64_t>(data_rank);
  o.schedule.data_size = static_cast<uint64_t>(data_size);
  return o;
}

}  // namespace

std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::string>& paths, LoaderOptions options) {
  options.inputs = paths;
  return std::make_unique<ShardSource>(std::move(options));
}

std::unique_ptr<BatchSource> make_train_source(const Config& cfg, int data_rank, int data_size, LoaderState start) {
  LoaderOptions o = config_loader_options(cfg, data_rank, data_size);
  o.what = "data.train";
  o.seed = cfg.train.seed;
  o.shuffle = true;
  o.start = start;
  return make_shard_source(cfg.data.train, std::move(o));
}

std::unique_ptr<BatchSource> make_valid_source(const Config& cfg, int data_rank, int data_size) {
  LoaderOptions o = config_loader_options(cfg, data_rank, data_size);
  o.what = "data.valid";
  o.seed = 0;
  o.shuffle = false;
  o.schedule.cycle_steps = static_cast<uint64_t>(std::max<int64_t>(cfg.train.eval_steps, 1));
  return make_shard_source(cfg.data.valid, std::move(o));
}

std::unique_ptr<BatchSource> make_synthetic_source(int seq_len, int vocab, uint64_t seed) {
  return std::make_unique<SyntheticSource>(seq_len, vocab, seed);
}

}  // namespace strata
