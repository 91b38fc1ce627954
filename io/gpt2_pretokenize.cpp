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

// ---- the ASCII scanner ----

enum class Ascii : std::uint8_t { letter, digit, space, other, high, end };

constexpr std::array<Ascii, 256> ascii_classes() {
  std::array<Ascii, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<std::size_t>(c)] = c >= 0x80                                    ? Ascii::high
                                     : (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ? Ascii::letter
                                     : c >= '0' && c <= '9'                        ? Ascii::digit
                                     : c == ' ' || (c >= '\t' && c <= '\r')        ? Ascii::space
                                                                                   : Ascii::other;
  }
  return t;
}
constexpr std::array<Ascii, 256> ascii_class = ascii_classes();

// The length of the piece that the pattern matches at `pos` when ASCII decides it, else 0 (then PCRE2
// must: a byte >= 0x80 may be a letter, digit, space or other character, or invalid UTF-8).
std::size_t ascii_piece(std::string_view t, std::size_t pos) {
  const std::size_t n = t.size();
  const auto cls = [&](std::size_t i) { return i < n ? ascii_class[static_cast<unsigned char>(t[i])] : Ascii::end; };
  Ascii run = cls(pos);
  if (run == Ascii::high) return 0;
  if (t[pos] == '\'' && pos + 1 < n) {  // 's|'t|'re|'ve|'m|'ll|'d, tried first
    const char c1 = t[pos + 1], c2 = pos + 2 < n ? t[pos + 2] : '\0';
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  }
  std::size_t i = pos;
  if (t[pos] == ' ') {  // ' ?' of the letter, digit and other alternatives
    const Ascii next = cls(pos + 1);
    if (next == Ascii::high) return 0;
    if (next == Ascii::letter || next == Ascii::digit || next == Ascii::other) {
      run = next;
      i = pos + 1;
    }
  }
  if (run == Ascii::letter || run == Ascii::digit || run == Ascii::other) {  // \p{L}+ | \p{N}+ | [^\s\p{L}\p{N}]+
    while (cls(i) == run) ++i;
    return cls(i) == Ascii::high ? 0 : i - pos;
  }
  while (cls(i) == Ascii::space) ++i;  // \s+(?!\S) backs off one space before a non-space; else \s+
  if (i == n) return i - pos;
  if (cls(i) == Ascii::high) return 0;
  return i - pos > 1 ? i - pos - 1 : 1;
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

namespace {

using MatchData = std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)>;

// Appends the pieces PCRE2 finds from `pos`, each preceded by the invalid UTF-8 it skipped: one
// match (`one`), or all of them to the end of the text.
void regex_pieces(const pcre2_code* code, bool jit, pcre2_match_data* md, std::string_view text, std::size_t pos,
                  bool one, std::vector<std::string_view>& pieces) {
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (pos < text.size()) {
    int rc = jit ? pcre2_jit_match(code, subject, text.size(), pos, 0, md, nullptr) : PCRE2_ERROR_JIT_STACKLIMIT;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // the JIT's 32 KiB stack: let the interpreter take the piece
      rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_JIT, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {  // only invalid UTF-8 is left
      pieces.push_back(text.substr(pos));
      break;
    }
    STRATA_CHECK(rc > 0, internal, "PCRE2 match failed at byte ", pos, " of a ", text.size(),
                 "-byte text: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[0] > pos) pieces.push_back(text.substr(pos, ov[0] - pos));  // invalid UTF-8 before the match
    pieces.push_back(text.substr(ov[0], ov[1] - ov[0]));
    pos = ov[1];
    if (one) break;
  }
}

MatchData make_match_data(const pcre2_code* code) {
  MatchData md(pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  STRATA_CHECK(md != nullptr, internal, "PCRE2: out of memory for match data");
  return md;
}

}  // namespace

void Gpt2PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  MatchData md(nullptr, &pcre2_match_data_free);  // made at the first piece that needs PCRE2
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (const std::size_t n = ascii_piece(text, pos)) {
      pieces.push_back(text.substr(pos, n));
      pos += n;
      continue;
    }
    if (!md) md = make_match_data(impl_->code);
    const std::size_t before = pieces.size();
    regex_pieces(impl_->code, impl_->jit, md.get(), text, pos, /*one=*/true, pieces);
    for (std::size_t i = before; i < pieces.size(); ++i) pos += pieces[i].size();
  }
}

void Gpt2PreTokenizer::split_with_regex(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  const MatchData md = make_match_data(impl_->code);
  regex_pieces(impl_->code, impl_->jit, md.get(), text, 0, /*one=*/false, pieces);
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
