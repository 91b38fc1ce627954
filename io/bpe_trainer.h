// bpe_trainer.h — training a byte-level BPE vocabulary on a corpus, the way Hugging Face `tokenizers`
// trains one (BpeTrainer with the 256-byte ByteLevel alphabet, as ByteLevelBPETokenizer.train does):
//   1. cut every document into pieces with the GPT-2 regex and count the distinct pieces ("words");
//   2. start from the 256 byte tokens (ids 0-255 in GPT-2's order, io/gpt2_pretokenize.h), each word
//      a sequence of byte ids, and count every adjacent pair of ids, weighted by the word's count;
//   3. repeatedly merge the most frequent pair (ties: the smallest (left id, right id)) into a new
//      token, in every word that holds it, updating the pair counts incrementally (only the words
//      holding the pair are touched; a max-queue with lazily refreshed counts finds the next pair),
//      until the vocabulary is full or no pair occurs min_frequency times;
//   4. add `<|endoftext|>` as the last id.
// The merges are the ones HF's trainer picks on the same words with special_tokens=["<|endoftext|>"]
// (which HF puts at id 0, shifting every id by one; our layout is GPT-2's: bytes first, eos last).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/bpe_tokenizer.h"

namespace strata {

class Gpt2PreTokenizer;

// Distinct pre-tokenized pieces of a corpus with their counts.
class BpeWordCounts {
 public:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>>;

  void add_text(std::string_view text, const Gpt2PreTokenizer& pre);  // counts each piece of `text`
  void add(std::string_view word, std::uint64_t count = 1);
  void merge(const BpeWordCounts& other);

  // A flat encoding of the counts (to send them between ranks) and its inverse, which adds the counts
  // of `data` to these. Error (internal) for data that serialize() did not write.
  std::string serialize() const;
  void add_serialized(std::string_view data);

  const Map& words() const { return counts_; }
  std::uint64_t total() const { return total_; }  // pieces counted

 private:
  Map counts_;
  std::uint64_t total_ = 0;
  std::vector<std::string_view> pieces_;  // scratch of add_text
};

struct BpeTrainOptions {
  std::int64_t vocab_size = 0;      // of the result, byte tokens and <|endoftext|> included: >= 257
  std::uint64_t min_frequency = 2;  // pairs counted fewer times are never merged (HF ByteLevelBPETokenizer's default)
};

// Trains on `words`. Stops early (a smaller vocabulary) when no pair reaches min_frequency.
// `progress(merges_done)` is called after each merge when given. Error (config) for vocab_size < 257.
BpeVocab train_bpe(const BpeWordCounts& words, const BpeTrainOptions& options,
                   const std::function<void(std::size_t merges_done)>& progress = {});

}  // namespace strata
