// bpe_trainer.cpp — BPE training (see bpe_trainer.h). The merge loop follows HF tokenizers'
// BpeTrainer::do_train (models/bpe/trainer.rs) step by step, including how it counts overlapping
// pairs ("aaa" counts ('a','a') twice) and updates counts after a merge (Word::merge), so that both
// pick the same merges.
#include "io/bpe_trainer.h"

#include <algorithm>
#include <cstring>

#include "io/gpt2_pretokenize.h"
#include "kernels/error.h"

namespace strata {

namespace {

using Pair = std::uint64_t;  // (left id << 32) | right id: orders like the tuple (left, right)

Pair make_pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}
std::int32_t left_of(Pair p) { return static_cast<std::int32_t>(p >> 32); }
std::int32_t right_of(Pair p) { return static_cast<std::int32_t>(p & 0xFFFFFFFFu); }

// A candidate merge: a pair, its count when queued, and the words that held it then.
struct Candidate {
  std::uint64_t count;
  Pair pair;
  std::vector<std::uint32_t> words;
};
// Max-queue order: higher count first, then the smaller pair.
bool queued_before(const Candidate& a, const Candidate& b) {
  return a.count != b.count ? a.count < b.count : a.pair > b.pair;
}

void add_word_index(std::vector<std::uint32_t>& words, std::uint32_t w) {
  if (words.empty() || words.back() != w) words.push_back(w);  // words are visited in increasing order
}

// HF's Word::merge: merges every non-overlapping occurrence of (a, b), left to right, into `id`, and
// reports the pair count changes it causes, (pair, +1/-1), in `changes`.
void merge_word(std::vector<std::int32_t>& w, std::int32_t a, std::int32_t b, std::int32_t id,
                std::vector<std::pair<Pair, int>>& changes) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] != a || i + 1 >= w.size() || w[i + 1] != b) continue;
    if (i > 0) {
      changes.emplace_back(make_pair_key(w[i - 1], a), -1);
      changes.emplace_back(make_pair_key(w[i - 1], id), +1);
    }
    w[i] = id;
    w.erase(w.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (i + 1 < w.size()) {
      changes.emplace_back(make_pair_key(b, w[i + 1]), -1);
      changes.emplace_back(make_pair_key(id, w[i + 1]), +1);
    }
  }
}

}  // namespace

void BpeWordCounts::add_text(std::string_view text, const Gpt2PreTokenizer& pre) {
  pre.split(text, pieces_);
  for (const std::string_view piece : pieces_) add(piece);
}

void BpeWordCounts::add(std::string_view word, std::uint64_t count) {
  if (const auto it = counts_.find(word); it != counts_.end()) {
    it->second += count;
  } else {
    counts_.emplace(word, count);
  }
  total_ += count;
}

void BpeWordCounts::merge(const BpeWordCounts& other) {
  for (const auto& [word, count] : other.counts_) add(word, count);
}

std::string BpeWordCounts::serialize() const {
  std::string s;
  for (const auto& [word, count] : counts_) {
    const auto n = static_cast<std::uint32_t>(word.size());
    s.append(reinterpret_cast<const char*>(&n), sizeof n);
    s.append(word);
    s.append(reinterpret_cast<const char*>(&count), sizeof count);
  }
  return s;
}

void BpeWordCounts::add_serialized(std::string_view data) {
  while (!data.empty()) {
    std::uint32_t n = 0;
    std::uint64_t count = 0;
    STRATA_CHECK(data.size() >= sizeof n, internal, "corrupt serialized word counts");
    std::memcpy(&n, data.data(), sizeof n);
    STRATA_CHECK(data.size() >= sizeof n + n + sizeof count, internal, "corrupt serialized word counts");
    std::memcpy(&count, data.data() + sizeof n + n, sizeof count);
    add(data.substr(sizeof n, n), count);
    data.remove_prefix(sizeof n + n + sizeof count);
  }
}

BpeVocab train_bpe(const BpeWordCounts& word_counts, const BpeTrainOptions& options,
                   const std::function<void(std::size_t)>& progress) {
  STRATA_CHECK(options.vocab_size >= 257, config, "BPE vocabulary size is ", options.vocab_size,
               "; expected at least 257 (256 byte tokens and ", BpeTokenizer::eos_token, ")");
  // 1. The byte tokens, in GPT-2's order (= HF's alphabet sorted by character).
  std::vector<std::string> token_bytes;
  std::unordered_map<std::string, std::int32_t, BpeWordCounts::Hash, std::equal_to<>> token_ids;
  std::array<std::int32_t, 256> byte_id{};
  for (std::size_t i = 0; i < 256; ++i) {
    const std::uint8_t b = gpt2_byte_order()[i];
    token_bytes.emplace_back(1, static_cast<char>(b));
    token_ids.emplace(token_bytes.back(), static_cast<std::int32_t>(i));
    byte_id[b] = static_cast<std::int32_t>(i);
  }

  // 2. Words as byte ids (sorted, so that the run is the same whatever the hash order), pair counts.
  std::vector<const BpeWordCounts::Map::value_type*> sorted;
  sorted.reserve(word_counts.words().size());
  for (const auto& entry : word_counts.words()) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  std::vector<std::vector<std::int32_t>> words(sorted.size());
  std::vector<std::uint64_t> counts(sorted.size());
  std::unordered_map<Pair, std::int64_t> pair_counts;
  std::unordered_map<Pair, std::vector<std::uint32_t>> where;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    counts[i] = sorted[i]->second;
    for (const char c : sorted[i]->first) words[i].push_back(byte_id[static_cast<unsigned char>(c)]);
    for (std::size_t j = 0; j + 1 < words[i].size(); ++j) {
      const Pair p = make_pair_key(words[i][j], words[i][j + 1]);
      pair_counts[p] += static_cast<std::int64_t>(counts[i]);
      add_word_index(where[p], static_cast<std::uint32_t>(i));
    }
  }
  std::vector<Candidate> queue;
  const auto enqueue_all = [&] {  // moves `where` into the queue, in pair order
    std::vector<Pair> pairs;
    pairs.reserve(where.size());
    for (const auto& entry : where) pairs.push_back(entry.first);
    std::sort(pairs.begin(), pairs.end());
    for (const Pair p : pairs) {
      const std::int64_t count = pair_counts[p];
      if (count <= 0) continue;
      queue.push_back({static_cast<std::uint64_t>(count), p, std::move(where[p])});
      std::push_heap(queue.begin(), queue.end(), queued_before);
    }
    where.clear();
  };
  enqueue_all();

  // 3. Merges.
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  std::vector<std::pair<Pair, int>> changes;
  const std::size_t max_tokens = static_cast<std::size_t>(options.vocab_size) - 1;  // eos comes last
  while (token_bytes.size() < max_tokens && !queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), queued_before);
    Candidate top = std::move(queue.back());
    queue.pop_back();
    const std::int64_t now = pair_counts[top.pair];
    if (top.count != static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0))) {  // stale: requeue
      top.count = static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0));
      queue.push_back(std::move(top));
      std::push_heap(queue.begin(), queue.end(), queued_before);
      continue;
    }
    if (top.count < 1 || top.count < options.min_frequency) break;
    const std::int32_t a = left_of(top.pair), b = right_of(top.pair);
    std::string joined = token_bytes[static_cast<std::size_t>(a)] + token_bytes[static_cast<std::size_t>(b)];
    std::int32_t id = 0;
    if (const auto it = token_ids.find(joined); it != token_ids.end()) {
      id = it->second;  // the same string from another pair: HF reuses its id
    } else {
      id = static_cast<std::int32_t>(token_bytes.size());
      token_ids.emplace(joined, id);
      token_bytes.push_back(std::move(joined));
    }
    merges.emplace_back(a, b);
    std::sort(top.words.begin(), top.words.end());
    for (const std::uint32_t w : top.words) {
      changes.clear();
      merge_word(words[w], a, b, id, changes);
      for (const auto& [pair, change] : changes) {
        pair_counts[pair] += change * static_cast<std::int64_t>(counts[w]);
        if (change > 0) add_word_index(where[pair], w);
      }
    }
    enqueue_all();
    if (progress) progress(merges.size());
  }

  // 4. The files' form, eos last.
  BpeVocab vocab;
  for (std::size_t id = 0; id < token_bytes.size(); ++id)
    vocab.tokens.emplace_back(bytes_to_unicode(token_bytes[id]), static_cast<std::int32_t>(id));
  if (!token_ids.count(std::string_view(BpeTokenizer::eos_token)))
    vocab.tokens.emplace_back(BpeTokenizer::eos_token, static_cast<std::int32_t>(token_bytes.size()));
  for (const auto& [a, b] : merges)
    vocab.merges.emplace_back(bytes_to_unicode(token_bytes[static_cast<std::size_t>(a)]),
                              bytes_to_unicode(token_bytes[static_cast<std::size_t>(b)]));
  return vocab;
}

}  // namespace strata
