// batch_source.h — where training samples come from. The trainer asks for samples by their global index
// in the run's sample sequence (DESIGN: global batch b holds samples [b*G, (b+1)*G); micro-batch m of
// data rank r takes b*G + (m*D + r)*mb ...), so the samples of a step never depend on the layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace strata {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Fills `count` samples starting at global sample index `first`: inputs and targets are (count, T).
  virtual void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) = 0;
  virtual std::string describe() const = 0;
};

// Token shards (files, directories, globs), sample order shuffled by `seed` when `shuffle`.
// Throws Error{data} for bad shards, a vocabulary larger than `model_vocab`, or too little data.
std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::string>& paths, int seq_len, int model_vocab,
                                               uint64_t seed, bool shuffle);

// Uniform random tokens, a pure function of (seed, sample index): for benchmarks without data.
std::unique_ptr<BatchSource> make_synthetic_source(int seq_len, int vocab, uint64_t seed);

}  // namespace strata
