// import_raw.h — headerless token arrays and NumPy .npy files.
//
// Raw: the file is nothing but little-endian tokens of one type (`--dtype uint16|uint32`); its size
// must be a multiple of the width.
//
// .npy (numpy/lib/format.py): "\x93NUMPY", major and minor version bytes, the header length
// (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), then the header — a Python dict literal
// such as {'descr': '<u2', 'fortran_order': False, 'shape': (1000,), } padded with spaces and ending
// in '\n' (ASCII in 1.0/2.0, UTF-8 in 3.0) — then the array data. Accepted: 1-D arrays,
// fortran_order False, little-endian (or byte-sized) integer dtypes: |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8.
//
// Documents: neither format marks them. Each input file begins a document; with an end-of-document id
// (`--eos-id`), a document also begins after each eos token that is not the file's last token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "io/import_source.h"

namespace strata {

// "uint16" or "uint32"; Error (config) otherwise.
TokenType parse_raw_dtype(std::string_view name);

// What a .npy header says.
struct NpyHeader {
  int major = 0, minor = 0;
  TokenType type = TokenType::u16;
  std::string descr;          // e.g. "<u2"
  std::uint64_t num_tokens = 0;
  std::uint64_t data_offset = 0;  // where the array data begins
};

// Parses the header text (the dict literal) of a .npy file; `path` names the file in messages.
// Error (data) for a malformed dict, an unsupported dtype, fortran_order True or a shape not 1-D.
NpyHeader parse_npy_header_text(std::string_view text, const std::string& path);

// Reads and validates the header of `input`, and the file size data_offset + N * width.
NpyHeader read_npy_header(BinaryInput& input);

// Tokens of a fixed type from byte `data_offset` to the end of a file, documents cut as above.
// Shared by raw files (offset 0) and .npy files (after the header).
class ArraySource : public TokenSource {
 public:
  ArraySource(std::string path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id);
  bool next(TokenChunk& chunk, std::size_t max_tokens) override;
  const std::string& path() const override { return input_.path(); }
  std::string description() const override { return description_; }

 protected:
  void set_layout(TokenType type, std::uint64_t data_offset, std::uint64_t num_tokens, std::string description);
  BinaryInput input_;

 private:
  TokenType type_ = TokenType::u16;
  std::uint64_t data_offset_ = 0, num_tokens_ = 0;
  std::string description_;
  std::int64_t vocab_size_;
  std::optional<std::int32_t> eos_id_;
  std::uint64_t done_ = 0;
  bool doc_pending_ = true;  // the next token begins a document
  std::vector<unsigned char> bytes_;
};

class RawSource : public ArraySource {
 public:
  // Error (data) when the file size is not a multiple of the width of `type`.
  RawSource(const std::string& path, TokenType type, std::int64_t vocab_size, std::optional<std::int32_t> eos_id);
};

class NpySource : public ArraySource {
 public:
  NpySource(const std::string& path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id);
};

}  // namespace strata
