// gpt2_pretokenize.h — GPT-2's pre-tokenization: the regex that cuts text into the pieces ("words")
// inside which byte-level BPE merges, and GPT-2's bytes <-> unicode alphabet of vocab.json/merges.txt.
//
// The pattern is GPT-2's (openai/gpt-2 encoder.py, Hugging Face ByteLevel with use_regex):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched with PCRE2 in UTF + UCP mode (JIT-compiled when available). `\s` is spelled out as the
// Unicode White_Space set, which is what Hugging Face's Oniguruma matches (PCRE2's own \s adds U+180E).
// Rules: the pieces of a text concatenate to exactly that text. Bytes that are not valid UTF-8 match
// nothing; each run of them between matches becomes a piece of its own (as HF's Isolated split does
// with unmatched text), so any byte string is split losslessly.
// Speed: a piece made of ASCII alone, whose following character is ASCII too (or the end), is cut
// by a hand-written scanner that follows the pattern's alternatives; any piece touching a byte >= 0x80
// goes to PCRE2. Both give the same pieces (a randomized test compares them); the scanner is ~5x faster.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

// The GPT-2 pattern as given to PCRE2.
extern const char* const gpt2_pretokenize_pattern;

class Gpt2PreTokenizer {
 public:
  Gpt2PreTokenizer();  // compiles the pattern; Error (internal) if PCRE2 rejects it
  ~Gpt2PreTokenizer();
  Gpt2PreTokenizer(const Gpt2PreTokenizer&) = delete;
  Gpt2PreTokenizer& operator=(const Gpt2PreTokenizer&) = delete;

  // Replaces `pieces` with the pieces of `text` (views into `text`), in order. Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;
  std::vector<std::string_view> split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    split(text, pieces);
    return pieces;
  }
  // The same with PCRE2 alone, piece after piece (the reference of the ASCII scanner).
  void split_with_regex(std::string_view text, std::vector<std::string_view>& pieces) const;
  bool jit() const;  // whether PCRE2's JIT compiled the pattern

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GPT-2's bytes_to_unicode: byte b is written in vocab.json/merges.txt as the character
// byte_to_unicode()[b] (UTF-8 encoded): printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') as
// themselves, the other 68 bytes as U+0100 + n in byte order (space -> 'Ġ' U+0120, '\n' -> 'Ċ').
const std::array<std::string, 256>& byte_to_unicode();

// The byte order of GPT-2's vocabulary: the printable bytes above in increasing order, then the others
// in increasing order (= sorted by their unicode character). GPT-2 and HF give byte gpt2_byte_order()[i]
// the id i.
const std::array<std::uint8_t, 256>& gpt2_byte_order();

// The bytes of a token written in the byte-level alphabet ("Ġthe" -> " the"). Returns false when the
// string holds a character outside the alphabet (or is not UTF-8), leaving `bytes` unspecified.
bool unicode_to_bytes(std::string_view token, std::string& bytes);

// The byte-level spelling of `bytes` (" the" -> "Ġthe").
std::string bytes_to_unicode(std::string_view bytes);

}  // namespace strata
