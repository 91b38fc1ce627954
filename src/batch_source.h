// batch_source.h — where training samples come from. The trainer asks for samples by their global index
// in the run's sample sequence (DESIGN: global batch b holds samples [b*G, (b+1)*G); micro-batch m of
// data rank r takes b*G + (m*D + r)*mb ...), so the samples of a step never depend on the layout.
// Shard sources prefetch on a background I/O thread (io/prefetch_loader.h): they are told at
// construction which reads will come, in which order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/prefetch_loader.h"

namespace strata {

struct Config;

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Fills `count` samples starting at global sample index `first`: inputs and targets are (count, T).
  virtual void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) = 0;
  virtual std::string describe() const = 0;
  // Where the next reads begin (resume from a checkpoint): a prefetching source restarts its prefetch
  // there at once instead of at the first read. Optional: sources without prefetch ignore it.
  virtual void seek(LoaderState /*state*/) {}
  // The source's own position (the first sample of the global batch its next expected read belongs
  // to), for checkpoints; nullopt for sources that do not follow a schedule (synthetic, tests), whose
  // position is the trainer's step * global_batch.
  virtual std::optional<LoaderState> state() const { return std::nullopt; }
  // Reads, waits and the time spent waiting on I/O (zeros for sources without I/O).
  virtual LoaderStats stats() const { return {}; }
};

// Token shards (files, directories, globs) read by a PrefetchLoader with `options` (its `inputs` are
// replaced by `paths`). Throws at construction (Error data) for bad shards, a vocabulary larger than
// options.model_vocab or too little data, and Error config for a bad schedule.
std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::string>& paths, LoaderOptions options);

// data.train of `cfg` for data-parallel rank `data_rank` of `data_size`: shuffled with train.seed,
// prefetching the reads of Trainer::step from the global batch starting at `start` on.
std::unique_ptr<BatchSource> make_train_source(const Config& cfg, int data_rank, int data_size,
                                               LoaderState start = {});

// data.valid of `cfg`, in order, prefetching the reads of Trainer::evaluate: train.eval_steps global
// batches from sample 0, again and again (every evaluation pass starts at the beginning).
std::unique_ptr<BatchSource> make_valid_source(const Config& cfg, int data_rank, int data_size);

// Uniform random tokens, a pure function of (seed, sample index): for benchmarks without data.
std::unique_ptr<BatchSource> make_synthetic_source(int seq_len, int vocab, uint64_t seed);

}  // namespace strata
