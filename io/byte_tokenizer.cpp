// byte_tokenizer.cpp — the byte-level tokenizer, and choosing a tokenizer by name or by shard.
#include "io/byte_tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "io/bpe_tokenizer.h"
#include "kernels/error.h"

namespace strata {

void ByteTokenizer::encode(std::string_view text, std::vector<std::int32_t>& out) const {
  if (out.capacity() < out.size() + text.size()) out.reserve(std::max(out.size() + text.size(), 2 * out.capacity()));
  for (const char c : text) out.push_back(static_cast<unsigned char>(c));
}

std::string ByteTokenizer::decode(std::span<const std::int32_t> ids, std::string_view eos_text) const {
  std::string text;
  text.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    if (id == eos) {
      text += eos_text;
    } else {
      STRATA_CHECK(id >= 0 && id < 256, data, "byte tokenizer: token ", id, " at position ", i,
                   " is outside its vocabulary [0, ", vocab, ")");
      text += static_cast<char>(static_cast<unsigned char>(id));
    }
  }
  return text;
}

std::unique_ptr<Tokenizer> make_tokenizer(std::string_view name, const std::string& vocab_path,
                                          const std::string& merges_path) {
  const bool files = !vocab_path.empty() || !merges_path.empty();
  if (name == "byte") {
    STRATA_CHECK(!files, config, "the byte tokenizer takes no vocabulary files (--vocab, --merges); they are for "
                 "--tokenizer bpe");
    return std::make_unique<ByteTokenizer>();
  }
  if (name == "bpe") {
    STRATA_CHECK(!vocab_path.empty() && !merges_path.empty(), config,
                 "tokenizer 'bpe' needs both its vocabulary files, --vocab vocab.json and --merges merges.txt (found ",
                 vocab_path.empty() ? "no --vocab" : "--vocab " + vocab_path, " and ",
                 merges_path.empty() ? "no --merges" : "--merges " + merges_path,
                 "), or --vocab-size N to train one on the input");
    return BpeTokenizer::load(vocab_path, merges_path);
  }
  STRATA_THROW(config, "unknown tokenizer '", name, "'; expected one of: byte, bpe");
}

std::unique_ptr<Tokenizer> shard_tokenizer(const std::string& shard_path, std::int64_t vocab_size,
                                           std::string vocab_path, std::string merges_path) {
  const std::filesystem::path dir = std::filesystem::path(shard_path).parent_path();
  if (vocab_path.empty() && merges_path.empty() && std::filesystem::exists(dir / "vocab.json") &&
      std::filesystem::exists(dir / "merges.txt")) {
    vocab_path = (dir / "vocab.json").string();
    merges_path = (dir / "merges.txt").string();
  }
  if (!vocab_path.empty() || !merges_path.empty()) {
    auto bpe = make_tokenizer("bpe", vocab_path, merges_path);
    if (bpe->vocab_size() == vocab_size) return bpe;
  }
  if (vocab_size == ByteTokenizer::vocab) return make_tokenizer("byte");
  return nullptr;
}

}  // namespace strata
