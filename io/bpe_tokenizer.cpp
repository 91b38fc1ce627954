// bpe_tokenizer.cpp — vocab.json/merges.txt reading and writing, and byte-level BPE encoding.
#include "io/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/gpt2_pretokenize.h"
#include "kernels/error.h"

namespace strata {

namespace {

constexpr std::int64_t max_token_id = (std::int64_t{1} << 26) - 1;  // keeps the id tables dense and small

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

// Open-addressing hash table (pair of ids) -> (rank, merged id): the lookup of the encoding loop.
class PairTable {
 public:
  struct Value {
    std::int32_t rank = -1, id = -1;
  };
  void build(const std::vector<std::pair<std::uint64_t, Value>>& entries) {
    std::size_t cap = 16;
    while (cap < 2 * entries.size()) cap *= 2;
    keys_.assign(cap, empty);
    values_.assign(cap, Value{});
    mask_ = cap - 1;
    size_ = 0;
    for (const auto& [key, value] : entries) {  // a repeated pair keeps its last value, like HF's map
      std::size_t i = slot(key);
      while (keys_[i] != empty && keys_[i] != key) i = (i + 1) & mask_;
      size_ += keys_[i] == empty;
      keys_[i] = key;
      values_[i] = value;
    }
  }
  const Value* find(std::int32_t a, std::int32_t b) const {
    const std::uint64_t key = pair_key(a, b);
    for (std::size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == empty) return nullptr;
    }
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  std::size_t slot(std::uint64_t key) const { return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask_; }
  std::vector<std::uint64_t> keys_{empty};
  std::vector<Value> values_{Value{}};
  std::size_t mask_ = 0, size_ = 0;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Symbol {
  std::int32_t id;
  std::int32_t prev, next;  // neighbours in the word, -1 at the ends
  std::int32_t len;         // bytes covered; 0 once merged into its left neighbour
};

struct QueuedMerge {
  std::int32_t rank, pos, id;
  bool operator>(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeVocab parse_bpe_vocab(std::string_view vocab_json, std::string_view merges_txt, const std::string& vocab_name,
                         const std::string& merges_name) {
  BpeVocab v;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(vocab_json);
  } catch (const nlohmann::json::exception& e) {
    STRATA_THROW(data, vocab_name, ": not valid JSON (", e.what(), "); expected a vocab.json object of token -> id");
  }
  STRATA_CHECK(j.is_object() && !j.empty(), data, vocab_name, ": expected a non-empty JSON object of token -> id, found ",
               j.type_name());
  for (const auto& [token, id] : j.items()) {
    STRATA_CHECK(id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() <= max_token_id,
                 data, vocab_name, ": token '", token, "' has id ", id.dump(), "; expected an integer in [0, ",
                 max_token_id, "]");
    v.tokens.emplace_back(token, static_cast<std::int32_t>(id.get<std::int64_t>()));
  }
  std::size_t line_no = 0, blank_from = 0;
  while (!merges_txt.empty()) {
    const std::size_t nl = merges_txt.find('\n');
    std::string_view line = merges_txt.substr(0, nl);
    merges_txt.remove_prefix(nl == std::string_view::npos ? merges_txt.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("#version")) continue;
    if (line.empty()) {
      if (blank_from == 0) blank_from = line_no;
      continue;
    }
    STRATA_CHECK(blank_from == 0, data, merges_name, ": line ", blank_from, " is blank; expected 'TOKEN TOKEN'");
    const std::size_t sp = line.find(' ');
    STRATA_CHECK(sp != std::string_view::npos && line.find(' ', sp + 1) == std::string_view::npos, data, merges_name,
                 ": line ", line_no, " is '", line, "'; expected two tokens separated by one space");
    v.merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  return v;
}

BpeVocab read_bpe_vocab(const std::string& vocab_path, const std::string& merges_path) {
  const std::string vocab = read_whole_file(vocab_path, "BPE vocabulary (vocab.json)");
  const std::string merges = read_whole_file(merges_path, "BPE merges (merges.txt)");
  return parse_bpe_vocab(vocab, merges, vocab_path, merges_path);
}

std::string bpe_vocab_json(const BpeVocab& vocab) {
  std::vector<std::pair<std::string, std::int32_t>> tokens = vocab.tokens;
  std::stable_sort(tokens.begin(), tokens.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [token, id] : tokens) j[token] = id;
  return j.dump() + "\n";
}

std::string bpe_merges_txt(const BpeVocab& vocab) {
  std::string s = "#version: 0.2\n";
  for (const auto& [a, b] : vocab.merges) s += a + " " + b + "\n";
  return s;
}

void write_bpe_vocab(const BpeVocab& vocab, const std::string& dir) {
  const std::filesystem::path d(dir);
  write_file_atomically((d / "vocab.json").string(), bpe_vocab_json(vocab));
  write_file_atomically((d / "merges.txt").string(), bpe_merges_txt(vocab));
}

struct BpeTokenizer::Impl {
  BpeVocab vocab;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> ids;  // token string -> id
  std::vector<std::string> id_bytes;  // id -> its bytes (decoding)
  std::vector<char> id_used;          // whether an id is in vocab.json (ids may have gaps)
  std::array<std::int32_t, 256> byte_id{};
  PairTable merges;
  std::int64_t vocab_size = 0;
  std::int32_t eos = 0;
  Gpt2PreTokenizer pre;

  // Encoding state, guarded by `mu`: the word cache (piece -> [offset, offset + count) of `arena`) and
  // scratch buffers. The cache forgets everything when full; pieces longer than a line are not cached.
  static constexpr std::size_t cache_max_piece = 64, cache_max_words = 1 << 20, cache_max_ids = 1 << 24;
  mutable std::mutex mu;
  mutable std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>, StringHash, std::equal_to<>> cache;
  mutable std::vector<std::int32_t> arena;
  mutable std::vector<std::string_view> pieces;
  mutable std::vector<Symbol> symbols;
  mutable std::vector<QueuedMerge> queue;

  // HF's Word::merge_all (models/bpe/word.rs) without dropout: a min-queue of (rank, position).
  void merge_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
    const auto n = static_cast<std::int32_t>(piece.size());
    symbols.resize(piece.size());
    for (std::int32_t i = 0; i < n; ++i) {
      const auto byte = static_cast<unsigned char>(piece[static_cast<std::size_t>(i)]);
      const std::int32_t id = byte_id[byte];
      STRATA_CHECK(id >= 0, data, "BPE vocabulary has no token for byte 0x", std::hex, static_cast<int>(byte),
                   " ('", byte_to_unicode()[byte], "'); expected all 256 byte tokens in vocab.json");
      symbols[static_cast<std::size_t>(i)] = {id, i - 1, i + 1 < n ? i + 1 : -1, 1};
    }
    queue.clear();
    for (std::int32_t i = 0; i + 1 < n; ++i) {
      if (const auto* m = merges.find(symbols[static_cast<std::size_t>(i)].id, symbols[static_cast<std::size_t>(i) + 1].id))
        queue.push_back({m->rank, i, m->id});
    }
    const auto cmp = std::greater<QueuedMerge>();
    std::make_heap(queue.begin(), queue.end(), cmp);
    while (!queue.empty()) {
      std::pop_heap(queue.begin(), queue.end(), cmp);
      const QueuedMerge top = queue.back();
      queue.pop_back();
      Symbol& cur = symbols[static_cast<std::size_t>(top.pos)];
      if (cur.len == 0 || cur.next < 0) continue;
      const Symbol right = symbols[static_cast<std::size_t>(cur.next)];
      const auto* m = merges.find(cur.id, right.id);
      if (m == nullptr || m->id != top.id) continue;  // an expired entry
      symbols[static_cast<std::size_t>(cur.next)].len = 0;
      cur.id = top.id;
      cur.len += right.len;
      cur.next = right.next;
      if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
      if (cur.prev >= 0) {
        if (const auto* p = merges.find(symbols[static_cast<std::size_t>(cur.prev)].id, cur.id)) {
          queue.push_back({p->rank, cur.prev, p->id});
          std::push_heap(queue.begin(), queue.end(), cmp);
        }
      }
      if (cur.next >= 0) {
        if (const auto* p = merges.find(cur.id, symbols[static_cast<std::size_t>(cur.next)].id)) {
          queue.push_back({p->rank, top.pos, p->id});
          std::push_heap(queue.begin(), queue.end(), cmp);
        }
      }
    }
    for (const Symbol& s : symbols)
      if (s.len != 0) out.push_back(s.id);
  }
};

BpeTokenizer::BpeTokenizer(BpeVocab vocab, std::string source) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  STRATA_CHECK(!vocab.tokens.empty(), data, source, ": the vocabulary has no tokens");
  std::int32_t max_id = 0;
  for (const auto& [token, id] : vocab.tokens) {
    STRATA_CHECK(id >= 0 && id <= max_token_id, data, source, ": token '", token, "' has id ", id,
                 "; expected an id in [0, ", max_token_id, "]");
    STRATA_CHECK(m.ids.emplace(token, id).second, data, source, ": token '", token, "' appears twice");
    max_id = std::max(max_id, id);
  }
  m.id_bytes.assign(static_cast<std::size_t>(max_id) + 1, std::string());
  m.id_used.assign(static_cast<std::size_t>(max_id) + 1, 0);
  for (const auto& [token, id] : vocab.tokens) {
    auto& used = m.id_used[static_cast<std::size_t>(id)];
    STRATA_CHECK(!used, data, source, ": id ", id, " is given to two tokens (one is '", token, "')");
    used = 1;
    std::string& bytes = m.id_bytes[static_cast<std::size_t>(id)];
    if (!unicode_to_bytes(token, bytes)) bytes = token;  // outside the byte alphabet: decodes as its own text
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = m.ids.find(byte_to_unicode()[static_cast<std::size_t>(b)]);
    m.byte_id[static_cast<std::size_t>(b)] = it == m.ids.end() ? -1 : it->second;
  }
  std::vector<std::pair<std::uint64_t, PairTable::Value>> entries;
  entries.reserve(vocab.merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto& [a, b] = vocab.merges[rank];
    joined = a + b;
    for (const std::string* t : std::initializer_list<const std::string*>{&a, &b, &joined}) {
      STRATA_CHECK(m.ids.count(*t), data, source, ": merge ", rank + 1, " ('", a, "' '", b, "') needs the token '",
                   *t, "', which is not in the vocabulary");
    }
    entries.push_back({pair_key(m.ids.find(a)->second, m.ids.find(b)->second),
                       {static_cast<std::int32_t>(rank), m.ids.find(joined)->second}});
  }
  m.merges.build(entries);
  const auto eos = m.ids.find(std::string_view(eos_token));
  m.eos = eos != m.ids.end() ? eos->second : max_id + 1;
  m.vocab_size = std::int64_t{max_id} + 1 + (eos == m.ids.end() ? 1 : 0);
  m.vocab = std::move(vocab);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& vocab_path, const std::string& merges_path) {
  return std::make_unique<BpeTokenizer>(read_bpe_vocab(vocab_path, merges_path), vocab_path + " + " + merges_path);
}

BpeTokenizer::~BpeTokenizer() = default;

std::int64_t BpeTokenizer::vocab_size() const { return impl_->vocab_size; }
std::int32_t BpeTokenizer::eos_id() const { return impl_->eos; }
const BpeVocab& BpeTokenizer::vocab() const { return impl_->vocab; }
std::size_t BpeTokenizer::num_merges() const { return impl_->merges.size(); }

std::int32_t BpeTokenizer::token_id(std::string_view token) const {
  const auto it = impl_->ids.find(token);
  return it == impl_->ids.end() ? -1 : it->second;
}

std::size_t BpeTokenizer::cached_words() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->cache.size();
}

void BpeTokenizer::encode(std::string_view text, std::vector<std::int32_t>& out) const {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  m.pre.split(text, m.pieces);
  for (const std::string_view piece : m.pieces) {
    if (piece.size() == 1) {  // a lone byte merges with nothing
      const auto byte = static_cast<unsigned char>(piece[0]);
      if (m.byte_id[byte] >= 0) {
        out.push_back(m.byte_id[byte]);
        continue;
      }
    }
    if (piece.size() > Impl::cache_max_piece) {
      m.merge_piece(piece, out);
      continue;
    }
    if (const auto it = m.cache.find(piece); it != m.cache.end()) {
      const auto [offset, count] = it->second;
      out.insert(out.end(), m.arena.begin() + offset, m.arena.begin() + offset + count);
      continue;
    }
    const std::size_t start = out.size();
    m.merge_piece(piece, out);
    if (m.cache.size() >= Impl::cache_max_words || m.arena.size() + piece.size() > Impl::cache_max_ids) {
      m.cache.clear();
      m.arena.clear();
    }
    m.cache.emplace(piece, std::pair{static_cast<std::uint32_t>(m.arena.size()),
                                     static_cast<std::uint32_t>(out.size() - start)});
    m.arena.insert(m.arena.end(), out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  }
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids, std::string_view eos_text) const {
  const Impl& m = *impl_;
  std::string text;
  text.reserve(ids.size() * 4);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    if (id == m.eos) {
      text += eos_text;
      continue;
    }
    const bool known = id >= 0 && static_cast<std::size_t>(id) < m.id_used.size() && m.id_used[static_cast<std::size_t>(id)];
    STRATA_CHECK(known, data, "bpe tokenizer: token ", id, " at position ", i, " is not in its vocabulary (",
                 m.vocab_size, " ids)");
    text += m.id_bytes[static_cast<std::size_t>(id)];
  }
  return text;
}

}  // namespace strata
