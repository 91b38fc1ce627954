// byte_tokenizer.h — the Tokenizer interface that shard building and inspection use, and the
// byte-level tokenizer: ids 0..255 are the bytes of the UTF-8 (or any) text, 256 ends a document.
// The GPT-2 byte-level BPE tokenizer (io/bpe_tokenizer.h) implements the same interface; make_tokenizer
// chooses between them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string name() const = 0;
  virtual std::int64_t vocab_size() const = 0;
  virtual std::int32_t eos_id() const = 0;  // appended after every document by the shard builder

  // Appends the ids of `text` to `out` (no eos: documents are terminated by the caller).
  virtual void encode(std::string_view text, std::vector<std::int32_t>& out) const = 0;
  std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> out;
    encode(text, out);
    return out;
  }

  // The text of `ids`; each eos becomes `eos_text` (nothing by default, e.g. "\n%\n" to show
  // document boundaries). Error (data) for an id outside the vocabulary.
  virtual std::string decode(std::span<const std::int32_t> ids, std::string_view eos_text = {}) const = 0;
};

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr std::int32_t eos = 256;
  static constexpr std::int64_t vocab = 257;

  using Tokenizer::encode;
  std::string name() const override { return "byte"; }
  std::int64_t vocab_size() const override { return vocab; }
  std::int32_t eos_id() const override { return eos; }
  void encode(std::string_view text, std::vector<std::int32_t>& out) const override;
  std::string decode(std::span<const std::int32_t> ids, std::string_view eos_text = {}) const override;
};

// The tokenizer called `name` (the --tokenizer option): "byte", or "bpe" loaded from `vocab_path`
// (vocab.json) and `merges_path` (merges.txt), both required for bpe and refused for byte (Error
// config; Error data for unreadable or malformed files). Any other name is an Error (config) listing
// the choices.
std::unique_ptr<Tokenizer> make_tokenizer(std::string_view name, const std::string& vocab_path = {},
                                          const std::string& merges_path = {});

// The tokenizer that made the shard at `shard_path` (whose vocabulary is `vocab_size`), when it can be
// known: the BPE files `vocab_path` + `merges_path` when given, else the vocab.json + merges.txt that
// `strata-data build` wrote beside the shard, either used only when its vocabulary size is the shard's;
// otherwise the byte tokenizer when vocab_size is 257; otherwise nullptr.
std::unique_ptr<Tokenizer> shard_tokenizer(const std::string& shard_path, std::int64_t vocab_size,
                                           std::string vocab_path = {}, std::string merges_path = {});

}  // namespace strata
