// test_bpe.cpp — byte-level BPE: the GPT-2 pre-tokenizer and alphabet, a hand-written vocabulary whose
// ids are worked out by hand, vocabulary file parsing and its errors, and training (lossless
// round trip of held-out text, saving and reloading, determinism).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/bpe_trainer.h"
#include "io/gpt2_pretokenize.h"
#include "kernels/error.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using strata::test::expect_error;

using Ids = std::vector<std::int32_t>;
using Pieces = std::vector<std::string_view>;


// A vocabulary for the bytes a, b, c and space only, with merges in a known rank order:
//   rank 0 "a b" -> ab, 1 "ab c" -> abc, 2 "Ġ a" -> Ġa, 3 "b c" -> bc, 4 "a a" -> aa.
BpeTokenizer hand_tokenizer() {
  BpeVocab v;
  v.tokens = {{"a", 0}, {"b", 1}, {"c", 2}, {"Ġ", 3}, {"ab", 4}, {"bc", 5}, {"abc", 6}, {"Ġa", 7}, {"aa", 8}};
  v.merges = {{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}, {"b", "c"}, {"a", "a"}};
  return BpeTokenizer(v);
}

std::string all_bytes_and_unicode() {
  std::string s;
  for (int b = 0; b < 256; ++b) s += static_cast<char>(b);
  return s + " Hello, wörld! 日本語 😀 don't 12345   \n\t end  ";
}

}  // namespace

TEST(BpePreTokenize, Gpt2Pieces) {
  const Gpt2PreTokenizer pre;
  EXPECT_EQ(pre.split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(pre.split("I'm here, isn't it?"), (Pieces{"I", "'m", " here", ",", " isn", "'t", " it", "?"}));
  EXPECT_EQ(pre.split("  hi  there  "), (Pieces{" ", " hi", " ", " there", "  "}));
  EXPECT_EQ(pre.split("a \n\n b\t\tc"), (Pieces{"a", " \n\n", " b", "\t", "\t", "c"}));
  EXPECT_EQ(pre.split("x123abc 456 7.5"), (Pieces{"x", "123", "abc", " 456", " 7", ".", "5"}));
  EXPECT_EQ(pre.split("don't DON'T 'll"), (Pieces{"don", "'t", " DON", "'", "T", " '", "ll"}));
  EXPECT_EQ(pre.split("h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac"),
            (Pieces{"h\xc3\xa9llo", " w\xc3\xb6rld", " \xe6\x97\xa5\xe6\x9c\xac"}));
  EXPECT_EQ(pre.split("end   "), (Pieces{"end", "   "}));
  EXPECT_EQ(pre.split(""), Pieces{});
  // U+180E is not White_Space (HF/Oniguruma), though PCRE2's own \s would take it.
  EXPECT_EQ(pre.split("a\xe1\xa0\x8e" "b"), (Pieces{"a", "\xe1\xa0\x8e", "b"}));
  EXPECT_EQ(pre.split("a\xe3\x80\x80" "b"), (Pieces{"a", "\xe3\x80\x80", "b"}));  // U+3000 is
  // Invalid UTF-8 matches nothing: each run becomes a piece; the pieces still cover the text.
  const std::string bad = "ab\xff\xfe cd \xc3 e\x80";
  const Pieces pieces = pre.split(bad);
  std::string joined;
  for (const auto p : pieces) joined += p;
  EXPECT_EQ(joined, bad);
  EXPECT_EQ(pieces, (Pieces{"ab", "\xff\xfe", " cd", " ", "\xc3", " e", "\x80"}));
}

TEST(BpePreTokenize, AsciiScannerAgreesWithPcre2) {
  // Random texts of fragments where the pattern's alternatives meet: ASCII classes, contractions,
  // and non-ASCII letters, digits (U+0663, U+00B2), spaces (U+00A0, U+0085, U+3000), non-spaces (U+180E),
  // symbols, emoji and invalid UTF-8 next to them.
  const std::vector<std::string> fragments = {
      "a", "Z", "word", "7", "42", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", "'", "'s", "'t", "'re", "'ve",
      "'m", "'ll", "'d", "'S", "'r", "'l", ".", ",!?", "-", "$", "\x00", "\x1c", "\x7f", "_", "\xc3\xa9",
      "\xe6\x97\xa5", "\xd9\xa3", "\xc2\xb2", "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80", "\xe1\xa0\x8e",
      "\xe2\x80\x94", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\x80", "\xe2\x80"};
  const Gpt2PreTokenizer pre;
  std::mt19937 rng(11);
  std::vector<std::string_view> fast, reference;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string text;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) text += fragments[rng() % fragments.size()];
    pre.split(text, fast);
    pre.split_with_regex(text, reference);
    ASSERT_EQ(fast, reference) << "text: '" << text << "'";
  }
}

TEST(BpePreTokenize, ByteAlphabet) {
  EXPECT_EQ(byte_to_unicode()[' '], "\xc4\xa0");   // Ġ
  EXPECT_EQ(byte_to_unicode()['\n'], "\xc4\x8a");  // Ċ
  EXPECT_EQ(byte_to_unicode()['A'], "A");
  EXPECT_EQ(byte_to_unicode()[0xE9], "\xc3\xa9");  // é is printable Latin-1: itself
  EXPECT_EQ(byte_to_unicode()[0xAD], "\xc5\x83");  // soft hyphen is not: U+0143, the last one
  EXPECT_EQ(gpt2_byte_order()[0], '!');
  EXPECT_EQ(gpt2_byte_order()[188], 0);  // 188 printable bytes, then the others from 0
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(unicode_to_bytes(bytes_to_unicode(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(unicode_to_bytes("\xe6\x97\xa5", back));  // 日 is outside the alphabet
  EXPECT_FALSE(unicode_to_bytes(" ", back));             // so is a raw space
}

TEST(BpeTokenizer, HandWrittenVocabulary) {
  const BpeTokenizer tok = hand_tokenizer();
  EXPECT_EQ(tok.name(), "bpe");
  EXPECT_EQ(tok.vocab_size(), 10);  // ids 0-8 and an added end-of-document id 9
  EXPECT_EQ(tok.eos_id(), 9);
  EXPECT_EQ(tok.num_merges(), 5u);
  EXPECT_EQ(tok.encode("abc"), (Ids{6}));  // a b c -> ab c (rank 0) -> abc (rank 1)
  EXPECT_EQ(tok.encode("bcab"), (Ids{5, 4}));  // (a b) rank 0 before (b c) rank 3
  // " abc": Ġ a b c; (a b) rank 0 beats (Ġ a) rank 2, then (ab c); Ġ stays alone.
  EXPECT_EQ(tok.encode(" abc"), (Ids{3, 6}));
  EXPECT_EQ(tok.encode(" a"), (Ids{7}));
  EXPECT_EQ(tok.encode("aaaa"), (Ids{8, 8}));  // equal ranks: leftmost first
  EXPECT_EQ(tok.encode("aaa"), (Ids{8, 0}));
  EXPECT_EQ(tok.encode("cab abc"), (Ids{2, 4, 3, 6}));  // pieces "cab", " abc"
  EXPECT_EQ(tok.encode(""), Ids{});
  EXPECT_EQ(tok.decode(Ids{2, 4, 3, 6}), "cab abc");
  EXPECT_EQ(tok.decode(Ids{6, 9, 7, 9}, "|"), "abc| a|");
  // The cache returns what the merge loop computes, for repeated words too.
  EXPECT_EQ(tok.encode("abc abc abc"), (Ids{6, 3, 6, 3, 6}));
  EXPECT_GT(tok.cached_words(), 0u);
  EXPECT_EQ(tok.token_id("Ġa"), 7);
  EXPECT_EQ(tok.token_id("zz"), -1);
  expect_error([&] { tok.encode("abd"); }, ErrorKind::data, {"no token for byte 0x64", "'d'"});
  expect_error([&] { tok.decode(Ids{1, 10}); }, ErrorKind::data, {"token 10", "position 1"});
  expect_error([&] { tok.decode(Ids{-1}); }, ErrorKind::data, {"token -1"});
}

TEST(BpeTokenizer, EndOfTextInVocabulary) {
  BpeVocab v;
  v.tokens = {{"<|endoftext|>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}};
  v.merges = {{"a", "b"}};
  const BpeTokenizer tok(v);
  EXPECT_EQ(tok.eos_id(), 0);
  EXPECT_EQ(tok.vocab_size(), 4);
  EXPECT_EQ(tok.decode(Ids{3, 0, 1}, "<eos>"), "ab<eos>a");
}

TEST(BpeTokenizer, FileParsing) {
  const BpeVocab v = parse_bpe_vocab(R"({"a": 0, "b": 1, "ab": 2, "Ġ": 3})",
                                     "#version: 0.2\r\na b\r\n\n\n", "v.json", "m.txt");
  ASSERT_EQ(v.tokens.size(), 4u);
  ASSERT_EQ(v.merges.size(), 1u);
  EXPECT_EQ(v.merges[0], (std::pair<std::string, std::string>{"a", "b"}));
  // Written back and parsed again: the same vocabulary.
  const BpeVocab again = parse_bpe_vocab(bpe_vocab_json(v), bpe_merges_txt(v), "v", "m");
  EXPECT_EQ(BpeTokenizer(again).encode("ab"), (Ids{2}));
  EXPECT_EQ(bpe_merges_txt(v), "#version: 0.2\na b\n");
  EXPECT_EQ(bpe_vocab_json(v), "{\"a\":0,\"b\":1,\"ab\":2,\"\xc4\xa0\":3}\n");

  expect_error([] { parse_bpe_vocab("{\"a\": 0,", "", "v.json", "m.txt"); }, ErrorKind::data, {"v.json", "JSON"});
  expect_error([] { parse_bpe_vocab("[1, 2]", "", "v.json", "m.txt"); }, ErrorKind::data, {"v.json", "array"});
  expect_error([] { parse_bpe_vocab(R"({"a": -1})", "", "v.json", "m.txt"); }, ErrorKind::data, {"'a'", "-1"});
  expect_error([] { parse_bpe_vocab(R"({"a": "x"})", "", "v.json", "m.txt"); }, ErrorKind::data, {"'a'"});
  expect_error([] { parse_bpe_vocab(R"({"a": 0})", "a b c\n", "v.json", "m.txt"); }, ErrorKind::data,
               {"m.txt", "line 1", "a b c"});
  expect_error([] { parse_bpe_vocab(R"({"a": 0})", "a b\n\nb c\n", "v.json", "m.txt"); }, ErrorKind::data,
               {"m.txt", "line 2", "blank"});
  BpeVocab missing = v;
  missing.merges.push_back({"b", "a"});  // "ba" is no token
  expect_error([&] { BpeTokenizer t(missing, "m.txt"); }, ErrorKind::data, {"m.txt", "merge 2", "'ba'"});
  BpeVocab twice = v;
  twice.tokens.push_back({"c", 1});
  expect_error([&] { BpeTokenizer t(twice); }, ErrorKind::data, {"id 1"});
  expect_error([] { BpeTokenizer::load("/nonexistent/vocab.json", "/nonexistent/merges.txt"); }, ErrorKind::data,
               {"/nonexistent/vocab.json"});
  expect_error([] { make_tokenizer("bpe"); }, ErrorKind::config, {"--vocab", "--merges", "--vocab-size"});
  expect_error([] { make_tokenizer("byte", "v.json", ""); }, ErrorKind::config, {"byte"});
  expect_error([] { make_tokenizer("gpt9"); }, ErrorKind::config, {"gpt9", "byte, bpe"});
}

TEST(BpeTrainer, HeldOutTextRoundTripsLosslessly) {
  // A corpus with a repeated vocabulary of words, and held-out text it never saw (every byte value).
  std::mt19937 rng(5);
  const std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "and", "dog", "ran", "über",
                                          "日本", "42", "don't", "!", "  ", "\n"};
  std::string corpus;
  for (int i = 0; i < 3000; ++i) corpus += (i % 7 ? " " : "") + words[rng() % words.size()];
  BpeWordCounts counts;
  const Gpt2PreTokenizer pre;
  counts.add_text(corpus, pre);
  BpeTrainOptions opt;
  opt.vocab_size = 300;
  const BpeVocab vocab = train_bpe(counts, opt);
  ASSERT_EQ(vocab.tokens.size(), 300u);  // 256 bytes + 43 merged tokens + <|endoftext|>
  EXPECT_GE(vocab.merges.size(), 43u);
  EXPECT_EQ(vocab.tokens.back(), (std::pair<std::string, std::int32_t>{"<|endoftext|>", 299}));
  const BpeTokenizer tok(vocab);
  EXPECT_EQ(tok.vocab_size(), 300);
  EXPECT_EQ(tok.eos_id(), 299);
  EXPECT_EQ(tok.encode(" the"), (Ids{tok.token_id("Ġthe")}));  // frequent words became tokens
  EXPECT_NE(tok.token_id("Ġcat"), -1);

  const std::string held_out = all_bytes_and_unicode() + " the cat sat on a mat, then the dog ran off";
  const Ids ids = tok.encode(held_out);
  EXPECT_LT(ids.size(), held_out.size());
  for (const auto id : ids) EXPECT_TRUE(id >= 0 && id < 299);
  EXPECT_EQ(tok.decode(ids), held_out);
  EXPECT_EQ(tok.encode(corpus), tok.encode(corpus));  // the cached words give the same ids
  EXPECT_EQ(tok.decode(tok.encode(corpus)), corpus);

  // Training is deterministic and a small vocabulary stops when pairs run out or fall below min_frequency.
  EXPECT_EQ(train_bpe(counts, opt).merges, vocab.merges);
  BpeWordCounts tiny;
  tiny.add("ab", 2);
  tiny.add("cd", 1);
  opt.vocab_size = 1000;
  const BpeVocab small = train_bpe(tiny, opt);
  EXPECT_EQ(small.merges, (std::vector<std::pair<std::string, std::string>>{{"a", "b"}}));
  EXPECT_EQ(small.tokens.size(), 258u);
  opt.vocab_size = 256;
  expect_error([&] { train_bpe(tiny, opt); }, ErrorKind::config, {"256", "at least 257"});
}

TEST(BpeTrainer, SavedFilesReload) {
  BpeWordCounts counts;
  counts.add_text("low lower lowest newer newest wider widest low low newest", Gpt2PreTokenizer());
  BpeWordCounts copy;
  copy.add_serialized(counts.serialize());
  EXPECT_EQ(copy.words(), counts.words());
  EXPECT_EQ(copy.total(), counts.total());
  BpeTrainOptions opt;
  opt.vocab_size = 280;
  const BpeVocab vocab = train_bpe(copy, opt);
  const fs::path dir = fs::temp_directory_path() / ("strata_bpe_" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_bpe_vocab(vocab, dir.string());
  const auto loaded = BpeTokenizer::load((dir / "vocab.json").string(), (dir / "merges.txt").string());
  const BpeTokenizer direct(vocab);
  const std::string text = "the lowest and the newest, wider still\n";
  EXPECT_EQ(loaded->encode(text), direct.encode(text));
  EXPECT_EQ(loaded->vocab_size(), direct.vocab_size());
  EXPECT_EQ(loaded->eos_id(), direct.eos_id());
  EXPECT_EQ(make_tokenizer("bpe", (dir / "vocab.json").string(), (dir / "merges.txt").string())->encode(text),
            direct.encode(text));
  fs::remove_all(dir);
}
