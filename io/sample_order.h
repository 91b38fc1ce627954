// sample_order.h — which training sample comes when, identical for every parallel layout, and the
// reader that turns sample indices into (inputs, targets) batches.
//
// A dataset of N tokens holds S = (N - 1) / seq_len samples; sample s is the seq_len + 1 tokens
// [s*seq_len, s*seq_len + seq_len]: inputs are its first seq_len tokens, targets its last seq_len.
// Global sample k of a run (k = 0, 1, 2, ... across epochs) is sample perm_e(k mod S) of epoch
// e = k / S, where perm_e is a pseudo-random permutation of [0, S) keyed by (seed, e): a 6-round
// Feistel network on the smallest 4^h >= S values, cycle-walking until the value is < S (fewer than 4
// steps on average). O(1) memory and time per sample, so S may be 1e9 or more. Without shuffling
// perm_e is the identity. The run's data position is just k, which checkpoints save.
//
// Batches (the trainer's convention): global batch b holds global samples [b*G, (b+1)*G); micro-batch
// m of data-parallel rank r (of D ranks) with micro-batch size mb reads the mb samples starting at
// b*G + (m*D + r)*mb (micro_batch_first_sample). Every layout with the same G reads the same samples
// per global batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata {

class TokenDataset;

class SampleOrder {
 public:
  // Error (internal) when num_samples == 0.
  SampleOrder(std::uint64_t num_samples, std::uint64_t seed, bool shuffle);

  std::uint64_t num_samples() const { return num_samples_; }  // S, samples per epoch
  std::uint64_t epoch(std::uint64_t k) const { return k / num_samples_; }
  // The dataset sample (in [0, S)) that global sample k reads.
  std::uint64_t sample(std::uint64_t k) const { return permute(k / num_samples_, k % num_samples_); }
  // perm_epoch(i) for i in [0, S) (Error internal otherwise).
  std::uint64_t permute(std::uint64_t epoch, std::uint64_t i) const;

 private:
  std::uint64_t num_samples_, seed_;
  bool shuffle_;
  unsigned half_bits_ = 0;  // h: the Feistel network permutes [0, 4^h)
};

// The first global sample of micro-batch `micro` of data-parallel rank `data_rank` (of `data_size`)
// in global batch `batch`: batch*global_batch + (micro*data_size + data_rank)*micro_batch.
inline std::uint64_t micro_batch_first_sample(std::uint64_t batch, std::uint64_t global_batch,
                                              std::uint64_t micro, std::uint64_t data_rank,
                                              std::uint64_t data_size, std::uint64_t micro_batch) {
  return batch * global_batch + (micro * data_size + data_rank) * micro_batch;
}

// Reads samples of a TokenDataset in SampleOrder. Holds a reference: the dataset must outlive it.
class BatchReader {
 public:
  // Error (data) when the dataset has fewer than seq_len + 1 tokens ("sequence longer than the data",
  // naming model.seq_len and the token count); Error (config) when seq_len <= 0.
  BatchReader(const TokenDataset& dataset, int seq_len, std::uint64_t seed, bool shuffle);

  const SampleOrder& order() const { return order_; }
  std::uint64_t num_samples() const { return order_.num_samples(); }
  int seq_len() const { return seq_len_; }

  // Global samples [first, first + count) into inputs and targets, each (count, seq_len) row-major.
  void read(std::uint64_t first, std::size_t count, std::int32_t* inputs, std::int32_t* targets) const;

 private:
  const TokenDataset* dataset_;
  int seq_len_;
  SampleOrder order_;
  mutable std::vector<std::int32_t> buffer_;  // (seq_len + 1)
};

}  // namespace strata
