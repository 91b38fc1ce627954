// byte_tokenizer.cpp — the byte-level tokenizer.
#include "io/byte_tokenizer.h"

#include "kernels/error.h"

namespace strata {

void ByteTokenizer::encode(std::string_view text, std::vector<std::int32_t>& out) const {
  out.reserve(out.size() + text.size());
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

std::unique_ptr<Tokenizer> make_tokenizer(std::string_view name) {
  if (name == "byte") return std::make_unique<ByteTokenizer>();
  STRATA_THROW(config, "unknown tokenizer '", name, "'; expected one of: byte");
}

}  // namespace strata
