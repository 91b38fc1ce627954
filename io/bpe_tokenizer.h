// bpe_tokenizer.h — byte-level BPE (GPT-2): the vocabulary files (vocab.json + merges.txt, the GPT-2 /
// Hugging Face format) and the tokenizer that encodes with them exactly like Hugging Face `tokenizers`'
// ByteLevel BPE (add_prefix_space=False, no normalizer, no added tokens).
//
// Encoding a text: cut it into pieces with the GPT-2 regex (io/gpt2_pretokenize.h); each piece starts
// as one symbol per byte (the id of that byte's one-character token); then, as in HF's Word::merge_all,
// the adjacent pair of lowest merge rank is merged (leftmost first on equal rank) until no adjacent pair
// has a rank. The end-of-document id is `<|endoftext|>`'s when the vocabulary has it, else one past
// the largest id (vocab_size() counts it). Text is taken literally: "<|endoftext|>" inside a document
// is encoded as ordinary characters, as HF does without added tokens.
// Difference from HF, by choice: a byte with no token of its own is an Error (data) instead of being
// dropped silently (GPT-2 and HF-trained vocabularies hold all 256 bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/byte_tokenizer.h"

namespace strata {

// A BPE vocabulary as stored in its two files, tokens in GPT-2's byte-level alphabet ("Ġthe").
struct BpeVocab {
  std::vector<std::pair<std::string, std::int32_t>> tokens;  // vocab.json: token -> id
  std::vector<std::pair<std::string, std::string>> merges;   // merges.txt: rank order
};

// Parses vocab.json (a JSON object of token -> non-negative integer id, ids unique) and merges.txt
// (lines "a b"; lines starting "#version" skipped; LF or CRLF endings; blank lines only at the end).
// `vocab_name`/`merges_name` name the sources in messages. Error (data) on malformed input.
BpeVocab parse_bpe_vocab(std::string_view vocab_json, std::string_view merges_txt, const std::string& vocab_name,
                         const std::string& merges_name);
BpeVocab read_bpe_vocab(const std::string& vocab_path, const std::string& merges_path);  // Error (data)

// The files' contents: vocab.json with tokens in id order, merges.txt with a "#version: 0.2" line.
std::string bpe_vocab_json(const BpeVocab& vocab);
std::string bpe_merges_txt(const BpeVocab& vocab);
// Writes `<dir>/vocab.json` and `<dir>/merges.txt` (each through a .tmp file renamed into place).
// Error (internal) when they cannot be written.
void write_bpe_vocab(const BpeVocab& vocab, const std::string& dir);

class BpeTokenizer final : public Tokenizer {
 public:
  static constexpr const char* eos_token = "<|endoftext|>";

  // Checks the vocabulary: every merge's two tokens and their concatenation are tokens (Error data,
  // naming `source`, e.g. the merges file, otherwise). Of repeated merge lines the last one's rank counts.
  explicit BpeTokenizer(BpeVocab vocab, std::string source = "BPE vocabulary");
  static std::unique_ptr<BpeTokenizer> load(const std::string& vocab_path, const std::string& merges_path);
  ~BpeTokenizer() override;

  using Tokenizer::encode;
  std::string name() const override { return "bpe"; }
  std::int64_t vocab_size() const override;
  std::int32_t eos_id() const override;
  // Thread-safe; concurrent calls on one tokenizer take turns (they share the word cache).
  void encode(std::string_view text, std::vector<std::int32_t>& out) const override;
  std::string decode(std::span<const std::int32_t> ids, std::string_view eos_text = {}) const override;

  const BpeVocab& vocab() const;
  std::size_t num_merges() const;  // distinct merge pairs
  std::int32_t token_id(std::string_view token) const;  // id of a byte-level token string, -1 if none
  std::size_t cached_words() const;                     // pieces in the encoding cache

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
