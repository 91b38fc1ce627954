// token_dataset.h — the concatenated token stream of a list of shards (SPEC section 7), read by
// global offset. Opening costs O(number of shards): each shard's metadata is read, no token is.
// Shards stay open (one HDF5 file handle each) for the dataset's lifetime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/shard.h"

namespace strata {

class TokenDataset {
 public:
  // `inputs`: shard files, directories of *.h5 or globs (expand_shard_paths: each input's expansion
  // sorted, inputs in order). `what` names the source in messages, e.g. "data.train".
  // Errors (data): an input not found, a shard that is not a valid shard (Shard), shards whose
  // vocab_size differ (naming both files), a dataset without any token.
  explicit TokenDataset(const std::vector<std::string>& inputs, std::string what = "data");

  // Error (data) unless the shards' vocab_size <= `model_vocab_size` (the key model.vocab_size):
  // every token must be a valid row of the model's embedding.
  void check_model_vocab(std::int64_t model_vocab_size) const;

  std::uint64_t num_tokens() const { return offsets_.back(); }
  std::int64_t vocab_size() const { return vocab_size_; }
  std::optional<std::int32_t> eos_id() const { return eos_id_; }  // when every shard agrees on one
  const std::string& what() const { return what_; }
  std::size_t num_shards() const { return shards_.size(); }
  const Shard& shard(std::size_t i) const { return shards_[i]; }
  std::uint64_t shard_offset(std::size_t i) const { return offsets_[i]; }  // first global token of shard i

  // Tokens [offset, offset + count) of the concatenated stream into dst, across shard boundaries.
  // Error (internal) when the range exceeds num_tokens().
  void read(std::uint64_t offset, std::size_t count, std::int32_t* dst) const;

  // Streams every shard (Shard::validate): every token < vocab_size and sane /doc_offsets. Error
  // (data) naming the file and the shard and global offsets of the first bad token.
  void validate_tokens(std::size_t chunk_tokens = std::size_t{1} << 20) const;

 private:
  std::string what_;
  std::vector<Shard> shards_;
  std::vector<std::uint64_t> offsets_;  // (num_shards + 1): prefix sums of shard sizes
  std::int64_t vocab_size_ = 0;
  std::optional<std::int32_t> eos_id_;
};

}  // namespace strata
