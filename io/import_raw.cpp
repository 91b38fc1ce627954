// import_raw.cpp — raw token arrays and NumPy .npy files (see import_raw.h).
#include "io/import_raw.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <utility>
#include <variant>
#include <vector>

#include "kernels/error.h"

namespace strata {

TokenType parse_raw_dtype(std::string_view name) {
  if (name == "uint16") return TokenType::u16;
  if (name == "uint32") return TokenType::u32;
  STRATA_THROW(config, "unknown --dtype '", name, "'; expected uint16 or uint32");
}

namespace {

// ---- a parser for the small subset of Python literals a .npy header uses ----

using NpyValue = std::variant<std::string, bool, std::vector<std::uint64_t>>;  // str, bool, tuple of ints

class NpyDictParser {
 public:
  NpyDictParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  std::map<std::string, NpyValue> parse() {
    std::map<std::string, NpyValue> dict;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = parse_string();
      expect(':');
      dict[key] = parse_value();
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("',' or '}' after a value");
    }
    ++i_;  // the '}'
    skip_space();
    if (i_ != s_.size()) fail("the end of the header");
    return dict;
  }

 private:
  [[noreturn]] void fail(std::string_view expected) const {
    STRATA_THROW(data, path_, ": malformed .npy header: expected ", expected, " at character ", i_, " of '", s_,
                 "'");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("'") + c + "'");
    ++i_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("a quoted string");
    const std::size_t end = s_.find(quote, i_ + 1);
    if (end == std::string_view::npos) fail("a closing quote");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  std::uint64_t parse_int() {
    skip_space();
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("a non-negative integer");
    std::uint64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const auto digit = static_cast<std::uint64_t>(s_[i_++] - '0');
      if (v > (UINT64_MAX - digit) / 10) fail("an integer below 2^64");
      v = v * 10 + digit;
    }
    if (peek() == 'L') ++i_;  // Python 2 long literal, as old numpy wrote it
    return v;
  }
  NpyValue parse_value() {
    skip_space();
    const char c = peek();
    if (c == '\'' || c == '"') return parse_string();
    if (s_.substr(i_).starts_with("True")) return (i_ += 4, true);
    if (s_.substr(i_).starts_with("False")) return (i_ += 5, false);
    if (c == '(') {
      ++i_;
      std::vector<std::uint64_t> dims;
      while (true) {
        skip_space();
        if (peek() == ')') break;
        dims.push_back(parse_int());
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        if (peek() != ')') fail("',' or ')' in the shape");
      }
      ++i_;
      return dims;
    }
    fail("a string, True, False or a tuple of integers");
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

NpyHeader parse_npy_header_text(std::string_view text, const std::string& path) {
  const auto dict = NpyDictParser(text, path).parse();
  for (const char* key : {"descr", "fortran_order", "shape"})
    STRATA_CHECK(dict.count(key), data, path, ": malformed .npy header: no '", key, "' in '", text, "'");
  const auto* descr = std::get_if<std::string>(&dict.at("descr"));
  const auto* fortran = std::get_if<bool>(&dict.at("fortran_order"));
  const auto* shape = std::get_if<std::vector<std::uint64_t>>(&dict.at("shape"));
  STRATA_CHECK(descr, data, path, ": .npy dtype (descr) is not a simple type string; expected an integer dtype "
               "such as '<u2' (structured arrays are not token arrays)");
  STRATA_CHECK(fortran, data, path, ": malformed .npy header: fortran_order is not True or False");
  STRATA_CHECK(shape, data, path, ": malformed .npy header: shape is not a tuple of integers");

  static const std::pair<const char*, TokenType> known[] = {
      {"|u1", TokenType::u8},  {"|i1", TokenType::i8},  {"<u1", TokenType::u8},  {"<i1", TokenType::i8},
      {"<u2", TokenType::u16}, {"<i2", TokenType::i16}, {"<u4", TokenType::u32}, {"<i4", TokenType::i32},
      {"<u8", TokenType::u64}, {"<i8", TokenType::i64}};
  NpyHeader h;
  h.descr = *descr;
  const auto it = std::find_if(std::begin(known), std::end(known), [&](const auto& k) { return h.descr == k.first; });
  STRATA_CHECK(it != std::end(known), data, path, ": unsupported .npy dtype '", h.descr,
               "'; expected a little-endian integer dtype: |u1, |i1, <u2, <i2, <u4, <i4, <u8 or <i8",
               h.descr.starts_with(">") ? " (this array is big-endian: convert it with arr.astype('<u4'))" : "");
  h.type = it->second;
  STRATA_CHECK(!*fortran, data, path, ": .npy array has fortran_order True; expected False");
  STRATA_CHECK(shape->size() == 1, data, path, ": .npy array has shape ", shape_text(*shape),
               "; expected a 1-D array of tokens (flatten it with arr.reshape(-1))");
  h.num_tokens = shape->front();
  return h;
}

NpyHeader read_npy_header(BinaryInput& input) {
  const std::string& path = input.path();
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  unsigned char pre[12] = {};
  const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), sizeof(pre)));
  input.read(0, have, pre, ".npy header");
  STRATA_CHECK(have >= 10 && std::memcmp(pre, magic, sizeof(magic)) == 0, data, path,
               ": not a .npy file: expected the magic \\x93NUMPY and a header length in the first 10 bytes, found ",
               input.size() < 10 ? "a file of " + std::to_string(input.size()) + " bytes" : "other bytes");
  const int major = pre[6], minor = pre[7];
  STRATA_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, data, path, ": unsupported .npy version ",
               major, ".", minor, "; expected 1.0, 2.0 or 3.0");
  std::uint64_t header_len = 0, text_offset = 0;
  if (major == 1) {
    header_len = load_le<std::uint16_t>(pre + 8);
    text_offset = 10;
  } else {
    STRATA_CHECK(have >= 12, data, path, ": truncated .npy file: expected at least 12 bytes, found ", input.size());
    header_len = load_le<std::uint32_t>(pre + 8);
    text_offset = 12;
  }
  STRATA_CHECK(header_len <= input.size() - text_offset, data, path, ": truncated .npy header: expected ",
               header_len, " header bytes after byte ", text_offset, ", found ", input.size() - text_offset);
  std::string text(static_cast<std::size_t>(header_len), '\0');
  input.read(text_offset, text.size(), text.data(), ".npy header");
  NpyHeader h = parse_npy_header_text(text, path);
  h.major = major;
  h.minor = minor;
  h.data_offset = text_offset + header_len;
  const std::uint64_t width = token_type_bytes(h.type);
  const std::uint64_t room = input.size() - h.data_offset;
  const bool fits = h.num_tokens <= room / width;
  STRATA_CHECK(fits && room == h.num_tokens * width, data, path, ": .npy array of shape (", h.num_tokens,
               ",) and dtype '", h.descr, "' needs ", h.data_offset, " + ", h.num_tokens, " * ", width,
               " bytes; the file has ", input.size(), " bytes (", fits ? "trailing data" : "truncated", ")");
  return h;
}

ArraySource::ArraySource(std::string path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id)
    : input_(std::move(path)), vocab_size_(vocab_size), eos_id_(eos_id) {}

void ArraySource::set_layout(TokenType type, std::uint64_t data_offset, std::uint64_t num_tokens,
                             std::string description) {
  type_ = type;
  data_offset_ = data_offset;
  num_tokens_ = num_tokens;
  description_ = std::move(description);
}

bool ArraySource::next(TokenChunk& chunk, std::size_t max_tokens) {
  chunk.clear();
  const std::uint64_t n = std::min<std::uint64_t>(max_tokens, num_tokens_ - done_);
  if (n == 0) return false;
  const std::size_t width = token_type_bytes(type_);
  const std::uint64_t offset = data_offset_ + done_ * width;
  bytes_.resize(static_cast<std::size_t>(n) * width);
  input_.read(offset, bytes_.size(), bytes_.data(), "tokens");
  decode_tokens(bytes_, type_, vocab_size_, TokenPlace{input_.path(), done_, offset}, chunk.tokens);
  for (std::size_t i = 0; i < chunk.tokens.size(); ++i) {
    if (doc_pending_) chunk.doc_starts.push_back(i);
    doc_pending_ = eos_id_ && chunk.tokens[i] == *eos_id_;
  }
  done_ += n;
  return true;
}

RawSource::RawSource(const std::string& path, TokenType type, std::int64_t vocab_size,
                     std::optional<std::int32_t> eos_id)
    : ArraySource(path, vocab_size, eos_id) {
  const std::uint64_t width = token_type_bytes(type);
  STRATA_CHECK(input_.size() % width == 0, data, path, ": raw ", token_type_name(type), " file of ", input_.size(),
               " bytes; expected a multiple of ", width, " bytes (truncated, or another --dtype?)");
  set_layout(type, 0, input_.size() / width, std::string("raw ") + token_type_name(type));
}

NpySource::NpySource(const std::string& path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id)
    : ArraySource(path, vocab_size, eos_id) {
  const NpyHeader h = read_npy_header(input_);
  set_layout(h.type, h.data_offset, h.num_tokens,
             ".npy " + std::to_string(h.major) + ".0 '" + h.descr + "' (" + token_type_name(h.type) + ")");
}

}  // namespace strata
