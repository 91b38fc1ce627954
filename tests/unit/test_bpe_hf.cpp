// test_bpe_hf.cpp — compatibility with Hugging Face `tokenizers` through golden fixtures made by it
// (tests/data/bpe/generate.py): our ids for tricky texts equal HF's ByteLevel BPE ids exactly, with
// HF's own vocab.json/merges.txt; and our trainer picks HF's merges on the same corpus.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/bpe_tokenizer.h"
#include "io/bpe_trainer.h"
#include "io/gpt2_pretokenize.h"

using namespace strata;

namespace {

std::string fixture(const std::string& name) { return std::string(STRATA_SOURCE_DIR) + "/tests/data/bpe/" + name; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(BpeHfGolden, EncodingsMatchHuggingFace) {
  const auto tok = BpeTokenizer::load(fixture("hf-vocab.json"), fixture("hf-merges.txt"));
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_EQ(tok->eos_id(), 0);  // HF puts special tokens first
  const nlohmann::json cases = nlohmann::json::parse(read_text(fixture("hf-encodings.json")));
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(tok->encode(text), want) << "text: '" << text << "'";
    EXPECT_EQ(tok->decode(want), text);
  }
  // Again, now from the word cache.
  for (const auto& c : cases)
    EXPECT_EQ(tok->encode(c["text"].get<std::string>()), c["ids"].get<std::vector<std::int32_t>>());
}

TEST(BpeHfGolden, TrainerPicksHuggingFaceMerges) {
  // HF trained with vocab_size 400 and special_tokens ["<|endoftext|>"] (id 0, so its ids are ours + 1).
  BpeWordCounts counts;
  counts.add_text(read_text(fixture("corpus.txt")), Gpt2PreTokenizer());
  BpeTrainOptions opt;
  opt.vocab_size = 400;
  opt.min_frequency = 2;
  const BpeVocab ours = train_bpe(counts, opt);
  const BpeVocab hf = read_bpe_vocab(fixture("hf-vocab.json"), fixture("hf-merges.txt"));
  ASSERT_EQ(ours.merges.size(), hf.merges.size());
  for (std::size_t i = 0; i < hf.merges.size(); ++i)
    EXPECT_EQ(ours.merges[i], hf.merges[i]) << "merge " << i + 1;
  ASSERT_EQ(ours.tokens.size(), hf.tokens.size());
  for (const auto& [token, id] : hf.tokens) {
    const std::int32_t want = token == BpeTokenizer::eos_token ? 399 : id - 1;
    const auto it = std::find_if(ours.tokens.begin(), ours.tokens.end(), [&](const auto& t) { return t.first == token; });
    ASSERT_NE(it, ours.tokens.end()) << token;
    EXPECT_EQ(it->second, want) << token;
  }
}
