// gpt2_pretokenize.cpp — the GPT-2 pre-tokenization regex (PCRE2) and the byte-level alphabet.
#include "io/gpt2_pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kernels/error.h"

namespace strata {

namespace {

// Unicode White_Space, i.e. Oniguruma's \s (what HF tokenizers uses). PCRE2's UCP \s is this set plus
// U+180E, which HF treats as a non-space character: spelling the set out keeps the two identical.
#define STRATA_WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buf));
}

bool is_printable_byte(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

void append_utf8(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct ByteAlphabet {
  std::array<std::string, 256> to_unicode;
  std::array<std::uint8_t, 256> order{};
  std::array<int, 512> from_codepoint{};  // codepoint -> byte, -1 outside the alphabet

  ByteAlphabet() {
    from_codepoint.fill(-1);
    int n = 0, i = 0;
    for (int b = 0; b < 256; ++b)
      if (is_printable_byte(b)) order[static_cast<std::size_t>(i++)] = static_cast<std::uint8_t>(b);
    for (int b = 0; b < 256; ++b) {
      const std::uint32_t cp = is_printable_byte(b) ? static_cast<std::uint32_t>(b) : 256u + static_cast<std::uint32_t>(n++);
      if (!is_printable_byte(b)) order[static_cast<std::size_t>(i++)] = static_cast<std::uint8_t>(b);
      append_utf8(to_unicode[static_cast<std::size_t>(b)], cp);
      from_codepoint[cp] = b;
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

}  // namespace

const char* const gpt2_pretokenize_pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" STRATA_WS "\\p{L}\\p{N}]+|[" STRATA_WS "]+(?![^" STRATA_WS
    "])|[" STRATA_WS "]+";

struct Gpt2PreTokenizer::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

Gpt2PreTokenizer::Gpt2PreTokenizer() : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(gpt2_pretokenize_pattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  STRATA_CHECK(impl_->code != nullptr, internal, "PCRE2 cannot compile the GPT-2 pre-tokenization pattern at offset ",
               offset, ": ", pcre2_message(err));
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;  // else the interpreter
}

Gpt2PreTokenizer::~Gpt2PreTokenizer() = default;

bool Gpt2PreTokenizer::jit() const { return impl_->jit; }

void Gpt2PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  STRATA_CHECK(md != nullptr, internal, "PCRE2: out of memory for match data");
  std::size_t pos = 0;
  while (pos < text.size()) {
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), pos, 0, md.get(), nullptr)
                        : PCRE2_ERROR_JIT_STACKLIMIT;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // the JIT's 32 KiB stack: let the interpreter take the piece
      rc = pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_JIT, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {  // only invalid UTF-8 is left
      pieces.push_back(text.substr(pos));
      break;
    }
    STRATA_CHECK(rc > 0, internal, "PCRE2 match failed at byte ", pos, " of a ", text.size(),
                 "-byte text: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    if (ov[0] > pos) pieces.push_back(text.substr(pos, ov[0] - pos));  // invalid UTF-8 before the match
    pieces.push_back(text.substr(ov[0], ov[1] - ov[0]));
    pos = ov[1];
  }
}

const std::array<std::string, 256>& byte_to_unicode() { return alphabet().to_unicode; }

const std::array<std::uint8_t, 256>& gpt2_byte_order() { return alphabet().order; }

bool unicode_to_bytes(std::string_view token, std::string& bytes) {
  bytes.clear();
  const auto& from = alphabet().from_codepoint;
  for (std::size_t i = 0; i < token.size();) {
    const auto c0 = static_cast<unsigned char>(token[i]);
    std::uint32_t cp = 0;
    if (c0 < 0x80) {
      cp = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < token.size() && (token[i + 1] & 0xC0) == 0x80) {
      cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return false;  // three or more UTF-8 bytes: beyond U+07FF, outside the alphabet (U+0021..U+0143)
    }
    if (cp >= from.size() || from[cp] < 0) return false;
    bytes += static_cast<char>(from[cp]);
  }
  return true;
}

std::string bytes_to_unicode(std::string_view bytes) {
  const auto& to = alphabet().to_unicode;
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const char c : bytes) s += to[static_cast<unsigned char>(c)];
  return s;
}

}  // namespace strata
