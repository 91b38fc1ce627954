// import_llmc.h — llm.c token files (karpathy/llm.c, dev/data/data_common.py `write_datafile`).
//
// Layout: a header of 256 little-endian int32, then the tokens, little-endian:
//   header[0]  magic    20240520 (gpt-2 files)      20240801 (llama-3 files)
//   header[1]  version  1                           7
//   header[2]  number of tokens N (< 2^31)
//   tokens     N x uint16                          N x uint32
// so the file is exactly 1024 + N * width bytes. llm.c puts one delimiter token *before* each document
// (gpt-2: <|endoftext|> 50256; llama-3: <|begin_of_text|> 128000), and cuts files at a fixed token
// count, so a file may begin in the middle of a document. A document therefore begins exactly at each
// delimiter token, and nowhere else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/import_source.h"

namespace strata {

struct LlmcHeader {
  std::int32_t magic = 0;
  std::int32_t version = 0;
  std::uint64_t num_tokens = 0;
  TokenType type = TokenType::u16;
  std::int32_t doc_token = 0;              // the delimiter before each document
  std::int64_t default_vocab_size = 0;     // 50257 (gpt-2), 128256 (llama-3)
  std::optional<std::int32_t> default_eos;  // 50256 for gpt-2 files; none for llama-3 (128000 is BOS)
  std::string description;                 // "llm.c gpt-2 (uint16)"
};

inline constexpr std::int32_t llmc_gpt2_magic = 20240520;
inline constexpr std::int32_t llmc_llama3_magic = 20240801;
inline constexpr std::uint64_t llmc_header_bytes = 256 * 4;

// Reads and validates the header of `input`: the magic, the version that goes with it, a token count
// >= 0 and the file size 1024 + N * width. Error (data) naming the file, expected and found otherwise.
LlmcHeader read_llmc_header(BinaryInput& input);

class LlmcSource : public TokenSource {
 public:
  LlmcSource(const std::string& path, std::int64_t vocab_size);
  bool next(TokenChunk& chunk, std::size_t max_tokens) override;
  const std::string& path() const override { return input_.path(); }
  std::string description() const override { return header_.description; }
  const LlmcHeader& header() const { return header_; }

 private:
  BinaryInput input_;
  LlmcHeader header_;
  std::int64_t vocab_size_;
  std::uint64_t done_ = 0;  // tokens already returned
  std::vector<unsigned char> bytes_;
};

}  // namespace strata
