// token_dataset.cpp — a list of shards read as one token stream.
#include "io/token_dataset.h"

#include <algorithm>
#include <utility>

#include "kernels/error.h"

namespace strata {

TokenDataset::TokenDataset(const std::vector<std::string>& inputs, std::string what) : what_(std::move(what)) {
  const std::vector<std::string> paths = expand_shard_paths(inputs, what_);
  shards_.reserve(paths.size());
  offsets_.reserve(paths.size() + 1);
  offsets_.push_back(0);
  bool eos_agrees = true;
  for (const std::string& path : paths) {
    Shard shard(path);
    if (shards_.empty()) {
      vocab_size_ = shard.vocab_size();
      eos_id_ = shard.eos_id();
    } else {
      STRATA_CHECK(shard.vocab_size() == vocab_size_, data, what_, ": shards disagree on vocab_size: ",
                   shards_.front().path(), " has ", vocab_size_, ", ", path, " has ", shard.vocab_size(),
                   "; expected one vocabulary for all shards of a dataset");
      eos_agrees = eos_agrees && shard.eos_id() == eos_id_;
    }
    offsets_.push_back(offsets_.back() + shard.num_tokens());
    shards_.push_back(std::move(shard));
  }
  if (!eos_agrees) eos_id_.reset();
  STRATA_CHECK(num_tokens() > 0, data, what_, ": the ", shards_.size(), " shard(s) (", shards_.front().path(),
               shards_.size() > 1 ? ", ..." : "", ") hold no tokens; expected a non-empty dataset");
}

void TokenDataset::check_model_vocab(std::int64_t model_vocab_size) const {
  STRATA_CHECK(vocab_size_ <= model_vocab_size, data, what_, ": shard ", shards_.front().path(),
               " has vocab_size ", vocab_size_, " but model.vocab_size is ", model_vocab_size,
               "; expected shards with vocab_size <= model.vocab_size (set model.vocab_size to at least ",
               vocab_size_, ")");
}

void TokenDataset::read(std::uint64_t offset, std::size_t count, std::int32_t* dst) const {
  STRATA_CHECK(offset <= num_tokens() && count <= num_tokens() - offset, internal, what_, ": read of tokens [",
               offset, ", ", offset + count, ") outside the dataset's ", num_tokens(), " tokens");
  // The shard holding `offset`: the last one starting at or before it (skipping empty shards).
  std::size_t i = static_cast<std::size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), offset) -
                                           offsets_.begin()) - 1;
  while (count > 0) {
    const std::uint64_t local = offset - offsets_[i];
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(count, shards_[i].num_tokens() - local));
    shards_[i].read(local, n, dst);
    dst += n;
    offset += n;
    count -= n;
    ++i;
  }
}

void TokenDataset::validate_tokens(std::size_t chunk_tokens) const {
  for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i].validate(chunk_tokens, offsets_[i]);
}

}  // namespace strata
