// test_io_text.cpp — the byte tokenizer, document splitting, input expansion and the text -> shards
// build (byte and BPE, one or many tokenizing rounds), checked by decoding the shards back into the
// documents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/byte_tokenizer.h"
#include "io/shard.h"
#include "io/text_documents.h"
#include "io/token_dataset.h"
#include "kernels/error.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using strata::test::TempDir;
using strata::test::expect_error;



using Docs = std::vector<std::string>;

// The documents of a dataset written with eos after each document.
std::vector<std::int32_t> all_tokens(const TokenDataset& ds) {
  std::vector<std::int32_t> ids(ds.num_tokens());
  ds.read(0, ids.size(), ids.data());
  return ids;
}

Docs decode_documents(const TokenDataset& ds, const Tokenizer& tok = ByteTokenizer()) {
  const std::vector<std::int32_t> ids = all_tokens(ds);
  EXPECT_EQ(ids.back(), tok.eos_id());
  Docs docs;
  std::string cur;
  for (const std::int32_t id : ids) {
    if (id == tok.eos_id()) {
      docs.push_back(cur);
      cur.clear();
    } else {
      cur += tok.decode(std::span(&id, 1));
    }
  }
  return docs;
}

// Documents with words that repeat (for BPE to learn) and some it never sees often.
Docs varied_documents(int n) {
  Docs docs;
  for (int i = 0; i < n; ++i) {
    std::string d = "document " + std::to_string(i) + ": the cat and the dog\n";
    for (int j = 0; j < i % 5; ++j) d += "line " + std::to_string(j * 37 % 11) + " caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac  x\n";
    docs.push_back(d);
  }
  return docs;
}

std::string join_with_delimiter(const Docs& docs) {
  std::string text;
  for (const std::string& d : docs) text += d + "%\n";
  return text;
}

}  // namespace

TEST(IoTokenizer, ByteRoundTrip) {
  const ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.eos_id(), 256);
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::vector<std::int32_t> ids = tok.encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<std::size_t>(b)], b);
  EXPECT_EQ(tok.decode(ids), all);
  EXPECT_EQ(tok.encode("h\xc3\xa9"), (std::vector<std::int32_t>{104, 0xc3, 0xa9}));  // UTF-8 bytes
  const std::vector<std::int32_t> with_eos{104, 105, 256, 33, 256};
  EXPECT_EQ(tok.decode(with_eos), "hi!");
  EXPECT_EQ(tok.decode(with_eos, "|"), "hi|!|");
  const std::vector<std::int32_t> bad{1, 257};
  expect_error([&] { tok.decode(bad); }, ErrorKind::data, {"257", "position 1"});
  EXPECT_EQ(make_tokenizer("byte")->name(), "byte");
  expect_error([] { make_tokenizer("gpt2"); }, ErrorKind::config, {"gpt2", "byte", "bpe"});
}

TEST(IoText, SplitRules) {
  const DocumentSplit delim{SplitRule::delimiter, "%"};
  EXPECT_EQ(split_documents("a\nb\n%\nc\n%\n\n%\n%\nd", delim), (Docs{"a\nb\n", "c\n", "d"}));
  EXPECT_EQ(split_documents("a\r\n%\r\nb\r\n", delim), (Docs{"a\r\n", "b\r\n"}));
  EXPECT_EQ(split_documents("x %\n%%\n", delim), (Docs{"x %\n%%\n"}));  // only whole lines delimit
  EXPECT_EQ(split_documents("", delim), Docs{});
  EXPECT_EQ(split_documents("a\n==\nb", DocumentSplit{SplitRule::delimiter, "=="}), (Docs{"a\n", "b"}));

  const DocumentSplit blank{SplitRule::blank, ""};
  EXPECT_EQ(split_documents("p1 l1\np1 l2\n\n\n \t\np2\n\np3", blank), (Docs{"p1 l1\np1 l2\n", "p2\n", "p3"}));
  EXPECT_EQ(split_documents("\n\n", blank), Docs{});

  const DocumentSplit file{SplitRule::file, ""};
  EXPECT_EQ(split_documents("a\n%\n\nb\n", file), (Docs{"a\n%\n\nb\n"}));
  EXPECT_EQ(split_documents(" \n", file), Docs{});

  EXPECT_EQ(parse_split_rule("blank"), SplitRule::blank);
  expect_error([] { parse_split_rule("lines"); }, ErrorKind::config, {"lines", "delimiter"});
}

TEST(IoText, FilesSplitLikeStrings) {
  TempDir dir;
  const std::string text = "one\n%\ntwo\nlines\n%\n\n%\nlast, no newline";
  const std::string f1 = dir.write("f1", text);
  const std::string f2 = dir.write("f2", "a\n\nb\n");
  for (SplitRule rule : {SplitRule::delimiter, SplitRule::blank, SplitRule::file}) {
    const DocumentSplit split{rule, "%"};
    Docs got;
    for_each_document({f1, f2}, split, [&](std::string_view d) { got.emplace_back(d); });
    Docs want = split_documents(text, split);
    for (auto& d : split_documents("a\n\nb\n", split)) want.push_back(d);
    EXPECT_EQ(got, want) << static_cast<int>(rule);
  }
}

TEST(IoText, InputExpansion) {
  TempDir dir;
  dir.write("corpus/b", "b");
  dir.write("corpus/a", "a");
  dir.write("corpus/a.dat", "index");
  dir.write("corpus/sub/c", "c");
  fs::create_symlink("a", dir.file("corpus/a.u8"));  // fortune's X.u8 -> X
  fs::create_symlink("a", dir.file("corpus/0link")); // a link sorting before its target
  const std::string c = dir.file("corpus");
  EXPECT_EQ(expand_text_inputs({c}), (std::vector<std::string>{c + "/0link", c + "/b", c + "/sub/c"}));
  EXPECT_EQ(expand_text_inputs({c + "/[ab]*"}), (std::vector<std::string>{c + "/a", c + "/b"}));
  EXPECT_EQ(expand_text_inputs({c + "/a.dat", c + "/b", c + "/b"}),  // an explicit file is taken as is, once
            (std::vector<std::string>{c + "/a.dat", c + "/b"}));
  expect_error([&] { expand_text_inputs({c + "/b", dir.file("nope.txt")}); }, ErrorKind::data, {dir.file("nope.txt")});
  fs::create_directories(dir.file("empty"));
  expect_error([&] { expand_text_inputs({dir.file("empty")}); }, ErrorKind::data, {dir.file("empty")});
}

TEST(IoText, BuildRoundTripsDocuments) {
  TempDir dir;
  std::string text;
  Docs docs;
  for (int i = 0; i < 60; ++i) {
    std::string d = "document " + std::to_string(i) + "\n";
    for (int j = 0; j < i % 7; ++j) d += "line " + std::to_string(j) + " \xce\xbb\n";
    docs.push_back(d);
    text += d + "%\n";
  }
  dir.write("in/part1.txt", text);
  dir.write("in/part2.txt", "tail doc\n");
  docs.push_back("tail doc\n");

  BuildOptions opt;
  opt.inputs = {dir.file("in")};
  opt.valid_fraction = 0.25;
  opt.shard_tokens = 97;  // documents cross shard boundaries
  opt.seed = 7;
  opt.out_dir = dir.file("out");
  const BuildSummary s = build_text_shards(opt, ByteTokenizer());
  EXPECT_EQ(s.files, 2u);
  EXPECT_EQ(s.train.documents + s.valid.documents, docs.size());
  EXPECT_GT(s.valid.documents, 0u);
  EXPECT_GT(s.train.shards.size(), 2u);
  EXPECT_EQ(s.train.shards.front(), dir.file("out/train_000000.h5"));

  const TokenDataset train({dir.file("out/train_*.h5")}, "train");
  const TokenDataset valid({dir.file("out/valid_*.h5")}, "valid");
  EXPECT_EQ(train.num_shards(), s.train.shards.size());
  EXPECT_EQ(train.num_tokens(), s.train.tokens);
  EXPECT_EQ(train.vocab_size(), 257);
  EXPECT_EQ(train.eos_id(), 256);
  std::uint64_t doc_starts = 0;
  for (std::size_t i = 0; i < train.num_shards(); ++i) {
    doc_starts += *train.shard(i).num_documents();
    if (i + 1 < train.num_shards()) {
      EXPECT_EQ(train.shard(i).num_tokens(), 97u);
    }
  }
  EXPECT_EQ(doc_starts, s.train.documents);
  EXPECT_NO_THROW(train.validate_tokens());

  // Each split is a subsequence of the documents, together they are all of them, and the split of
  // each document follows its hash (except possibly the last).
  const Docs t = decode_documents(train), v = decode_documents(valid);
  EXPECT_EQ(t.size(), s.train.documents);
  std::size_t ti = 0, vi = 0;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const bool in_valid = is_validation_document(docs[i], opt.valid_fraction, opt.seed);
    if (i + 1 < docs.size()) {
      ASSERT_LT(in_valid ? vi : ti, in_valid ? v.size() : t.size());
      EXPECT_EQ(in_valid ? v[vi++] : t[ti++], docs[i]);
    } else {
      EXPECT_TRUE((ti < t.size() && t[ti] == docs[i]) || (vi < v.size() && v[vi] == docs[i]));
    }
  }

  // Same inputs and seed: same shards; rebuilding needs --overwrite.
  expect_error([&] { build_text_shards(opt, ByteTokenizer()); }, ErrorKind::config, {dir.file("out"), "overwrite"});
  opt.overwrite = true;
  const BuildSummary again = build_text_shards(opt, ByteTokenizer());
  EXPECT_EQ(again.train.tokens, s.train.tokens);
  EXPECT_EQ(again.valid.documents, s.valid.documents);
}

TEST(IoText, BothSplitsNonEmptyFromTwoDocuments) {
  TempDir dir;
  const std::string in = dir.write("two.txt", "first\n%\nsecond\n");
  for (double fraction : {1e-9, 0.999999}) {
    BuildOptions opt;
    opt.inputs = {in};
    opt.valid_fraction = fraction;
    opt.out_dir = dir.file("out" + std::to_string(fraction));
    const BuildSummary s = build_text_shards(opt, ByteTokenizer());
    EXPECT_EQ(s.train.documents, 1u);
    EXPECT_EQ(s.valid.documents, 1u);
    EXPECT_EQ(s.train.shards.size(), 1u);
    EXPECT_EQ(s.valid.shards.size(), 1u);
  }
  BuildOptions none;
  none.inputs = {in};
  none.valid_fraction = 0;
  none.out_dir = dir.file("none");
  const BuildSummary s = build_text_shards(none, ByteTokenizer());
  EXPECT_EQ(s.train.documents, 2u);
  EXPECT_TRUE(s.valid.shards.empty());
  EXPECT_FALSE(fs::exists(dir.file("none/valid_000000.h5")));
}

TEST(IoText, BuildErrors) {
  TempDir dir;
  BuildOptions opt;
  opt.out_dir = dir.file("out");
  opt.inputs = {dir.write("empty.txt", "%\n\n%\n")};
  expect_error([&] { build_text_shards(opt, ByteTokenizer()); }, ErrorKind::data,
               {dir.file("empty.txt"), "no documents"});
  opt.inputs = {dir.file("missing.txt")};
  expect_error([&] { build_text_shards(opt, ByteTokenizer()); }, ErrorKind::data, {dir.file("missing.txt")});
  opt.inputs = {dir.write("ok.txt", "text\n")};
  opt.valid_fraction = 1.0;
  expect_error([&] { build_text_shards(opt, ByteTokenizer()); }, ErrorKind::config, {"valid-fraction"});
}

TEST(IoText, TokenizingRoundsDoNotChangeShards) {
  TempDir dir;
  const Docs docs = varied_documents(80);
  const std::string in = dir.write("in.txt", join_with_delimiter(docs));
  std::vector<std::vector<std::int32_t>> tokens;
  for (const std::uint64_t block : {std::uint64_t{1} << 24, std::uint64_t{1}, std::uint64_t{300}}) {
    BuildOptions opt;
    opt.inputs = {in};
    opt.valid_fraction = 0.2;
    opt.shard_tokens = 500;
    opt.block_bytes = block;  // one round, one round per document, a few documents per round
    opt.out_dir = dir.file("out" + std::to_string(block));
    const BuildSummary s = build_text_shards(opt, ByteTokenizer());
    EXPECT_EQ(s.train.documents + s.valid.documents, docs.size());
    for (const char* split : {"train", "valid"})
      tokens.push_back(all_tokens(TokenDataset({opt.out_dir + "/" + split + "_*.h5"}, split)));
  }
  EXPECT_EQ(tokens[0], tokens[2]);
  EXPECT_EQ(tokens[1], tokens[3]);
  EXPECT_EQ(tokens[0], tokens[4]);
  EXPECT_EQ(tokens[1], tokens[5]);
}

TEST(IoTextBpe, TrainedBpeBuildRoundTripsDocuments) {
  TempDir dir;
  const Docs docs = varied_documents(60);
  dir.write("in/a.txt", join_with_delimiter(docs));
  BuildOptions opt;
  opt.inputs = {dir.file("in")};
  opt.valid_fraction = 0.25;
  opt.shard_tokens = 150;
  opt.block_bytes = 700;
  opt.out_dir = dir.file("out");
  BpeTrainOptions train;
  train.vocab_size = 290;
  const BpeVocab vocab = train_bpe_for_build(opt, train);
  ASSERT_TRUE(fs::exists(dir.file("out/vocab.json")));
  ASSERT_TRUE(fs::exists(dir.file("out/merges.txt")));
  const auto loaded = BpeTokenizer::load(dir.file("out/vocab.json"), dir.file("out/merges.txt"));
  const BpeTokenizer tok(vocab);
  EXPECT_EQ(loaded->vocab_size(), tok.vocab_size());
  EXPECT_EQ(tok.vocab_size(), 290);
  EXPECT_EQ(tok.eos_id(), 289);
  EXPECT_NE(tok.token_id("\xc4\xa0the"), -1);  // "Ġthe": learnt from the documents

  const BuildSummary s = build_text_shards(opt, *loaded);
  const TokenDataset trainset({dir.file("out/train_*.h5")}, "train"), validset({dir.file("out/valid_*.h5")}, "valid");
  EXPECT_EQ(trainset.vocab_size(), 290);
  EXPECT_EQ(trainset.eos_id(), 289);
  EXPECT_NO_THROW(trainset.validate_tokens());
  std::uint64_t bytes = 0;
  for (const auto& d : docs) bytes += d.size() + 1;
  EXPECT_LT(s.train.tokens + s.valid.tokens, bytes / 2);  // BPE compresses this text well
  const Docs t = decode_documents(trainset, tok), v = decode_documents(validset, tok);
  EXPECT_EQ(t.size() + v.size(), docs.size());
  Docs merged;  // the documents in order, the last one possibly moved
  std::size_t ti = 0, vi = 0;
  for (std::size_t i = 0; i + 1 < docs.size(); ++i)
    merged.push_back(is_validation_document(docs[i], opt.valid_fraction, opt.seed) ? v.at(vi++) : t.at(ti++));
  merged.push_back(ti < t.size() ? t.at(ti) : v.at(vi));
  EXPECT_EQ(merged, docs);

  // Encoding failures name the document.
  BpeVocab small;
  small.tokens = {{"d", 0}, {"o", 1}};
  opt.overwrite = true;
  expect_error([&] { build_text_shards(opt, BpeTokenizer(small)); }, ErrorKind::data, {"document 1", "byte 0x63"});
  opt.inputs = {dir.write("empty.txt", "%\n")};
  expect_error([&] { train_bpe_for_build(opt, train); }, ErrorKind::data, {"no documents"});
}
