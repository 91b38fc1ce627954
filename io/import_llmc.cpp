// import_llmc.cpp — reading llm.c token files (see import_llmc.h for the layout).
#include "io/import_llmc.h"

#include <algorithm>

#include "kernels/error.h"

namespace strata {

LlmcHeader read_llmc_header(BinaryInput& input) {
  const std::string& path = input.path();
  STRATA_CHECK(input.size() >= llmc_header_bytes, data, path, ": not an llm.c token file: expected at least ",
               llmc_header_bytes, " bytes (the header of 256 int32), found ", input.size(), " bytes");
  unsigned char raw[12];
  input.read(0, sizeof(raw), raw, "llm.c header");
  LlmcHeader h;
  h.magic = load_le<std::int32_t>(raw);
  h.version = load_le<std::int32_t>(raw + 4);
  const std::int32_t count = load_le<std::int32_t>(raw + 8);
  if (h.magic == llmc_gpt2_magic) {
    STRATA_CHECK(h.version == 1, data, path, ": unsupported llm.c token file version ", h.version,
                 " (header[1]) for magic ", h.magic, "; expected 1 (gpt-2, uint16 tokens)");
    h.type = TokenType::u16;
    h.doc_token = 50256;
    h.default_vocab_size = 50257;
    h.default_eos = 50256;
    h.description = "llm.c gpt-2 (uint16)";
  } else if (h.magic == llmc_llama3_magic) {
    STRATA_CHECK(h.version == 7, data, path, ": unsupported llm.c token file version ", h.version,
                 " (header[1]) for magic ", h.magic, "; expected 7 (llama-3, uint32 tokens)");
    h.type = TokenType::u32;
    h.doc_token = 128000;
    h.default_vocab_size = 128256;
    h.description = "llm.c llama-3 (uint32)";
  } else {
    STRATA_THROW(data, path, ": not an llm.c token file: expected magic ", llmc_gpt2_magic, " (gpt-2) or ",
                 llmc_llama3_magic, " (llama-3) in header[0], found ", h.magic);
  }
  STRATA_CHECK(count >= 0, data, path, ": bad llm.c token count ", count, " in header[2]; expected >= 0");
  h.num_tokens = static_cast<std::uint64_t>(count);
  const std::uint64_t width = token_type_bytes(h.type);
  const std::uint64_t expected = llmc_header_bytes + h.num_tokens * width;
  STRATA_CHECK(input.size() == expected, data, path, ": llm.c token file of ", h.num_tokens,
               " tokens (header[2]) should be 1024 + ", h.num_tokens, " * ", width, " = ", expected,
               " bytes, found ", input.size(), " bytes (", input.size() < expected ? "truncated" : "trailing data",
               ")");
  return h;
}

LlmcSource::LlmcSource(const std::string& path, std::int64_t vocab_size)
    : input_(path), header_(read_llmc_header(input_)), vocab_size_(vocab_size) {}

bool LlmcSource::next(TokenChunk& chunk, std::size_t max_tokens) {
  chunk.clear();
  const std::uint64_t n = std::min<std::uint64_t>(max_tokens, header_.num_tokens - done_);
  if (n == 0) return false;
  const std::size_t width = token_type_bytes(header_.type);
  const std::uint64_t offset = llmc_header_bytes + done_ * width;
  bytes_.resize(static_cast<std::size_t>(n) * width);
  input_.read(offset, bytes_.size(), bytes_.data(), "tokens");
  decode_tokens(bytes_, header_.type, vocab_size_, TokenPlace{input_.path(), done_, offset}, chunk.tokens);
  for (std::size_t i = 0; i < chunk.tokens.size(); ++i)
    if (chunk.tokens[i] == header_.doc_token) chunk.doc_starts.push_back(i);
  done_ += n;
  return true;
}

}  // namespace strata
