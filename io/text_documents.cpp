// text_documents.cpp — input expansion, document splitting and the text -> shards build (one process
// or MPI ranks), BPE training on the build's inputs.
#include "io/text_documents.h"

#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "io/byte_tokenizer.h"
#include "io/gpt2_pretokenize.h"
#include "io/shard.h"
#include "kernels/error.h"
#include "parallel/mpi_env.h"

namespace fs = std::filesystem;

namespace strata {

namespace {

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
                                                             c == '\f' || c == '\v'; });
}

// Accumulates lines into documents and hands each finished, non-blank document to `emit`.
class Splitter {
 public:
  Splitter(const DocumentSplit& split, const std::function<void(std::string_view)>& emit)
      : split_(split), emit_(emit) {}

  // `line` includes its "\n" when it has one (only a file's last line may lack it).
  void line(std::string_view line) {
    std::string_view content = line;
    if (!content.empty() && content.back() == '\n') content.remove_suffix(1);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    const bool boundary = (split_.rule == SplitRule::delimiter && content == split_.delimiter) ||
                          (split_.rule == SplitRule::blank && is_blank(content));
    if (boundary) {
      finish();
    } else {
      doc_.append(line);
    }
  }

  void finish() {
    if (!is_blank(doc_)) emit_(doc_);
    doc_.clear();
  }

 private:
  const DocumentSplit& split_;
  const std::function<void(std::string_view)>& emit_;
  std::string doc_;
};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool skipped_by_expansion(const fs::path& p) { return p.extension() == ".dat"; }

// Adds the regular files that `path` (a file or directory) stands for, sorted, to `out`.
void add_path(const fs::path& path, bool explicit_file, std::vector<std::string>& out) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    if (explicit_file || !skipped_by_expansion(path)) out.push_back(path.string());
    return;
  }
  std::vector<std::string> found;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !skipped_by_expansion(it->path())) found.push_back(it->path().string());
  }
  STRATA_CHECK(!ec, data, "cannot list input directory ", path.string(), ": ", ec.message());
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
}

}  // namespace

SplitRule parse_split_rule(std::string_view name) {
  if (name == "delimiter") return SplitRule::delimiter;
  if (name == "blank") return SplitRule::blank;
  if (name == "file") return SplitRule::file;
  STRATA_THROW(config, "unknown split rule '", name, "'; expected one of: delimiter, blank, file");
}

std::vector<std::string> expand_text_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(input, ec) || fs::is_directory(input, ec)) {
      add_path(input, /*explicit_file=*/true, files);
      continue;
    }
    glob_t g{};
    const int rc = glob(input.c_str(), GLOB_NOSORT, nullptr, &g);
    std::vector<std::string> matches;
    for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    STRATA_CHECK(!matches.empty(), data, "input '", input,
                 "' not found (expected an existing file, a directory or a glob that matches files)");
    std::sort(matches.begin(), matches.end());
    for (const std::string& m : matches) add_path(m, /*explicit_file=*/false, files);
  }
  // Keep each file once, at its first position: symlinks to files already included are dropped.
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (const std::string& f : files) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(f, ec);
    if (seen.insert(ec ? f : canonical.string()).second) unique.push_back(f);
  }
  std::string listed;
  for (const std::string& input : inputs) listed += (listed.empty() ? "" : " ") + input;
  STRATA_CHECK(!unique.empty(), data, "no input files found in: ", listed);
  return unique;
}

std::vector<std::string> split_documents(std::string_view text, const DocumentSplit& split) {
  std::vector<std::string> docs;
  const std::function<void(std::string_view)> emit = [&](std::string_view d) { docs.emplace_back(d); };
  Splitter splitter(split, emit);
  if (split.rule == SplitRule::file) {
    splitter.line(text);
  } else {
    while (!text.empty()) {
      const std::size_t nl = text.find('\n');
      const std::size_t n = nl == std::string_view::npos ? text.size() : nl + 1;
      splitter.line(text.substr(0, n));
      text.remove_prefix(n);
    }
  }
  splitter.finish();
  return docs;
}

void for_each_document(const std::vector<std::string>& files, const DocumentSplit& split,
                       const std::function<void(std::string_view document)>& fn) {
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    STRATA_CHECK(in.is_open(), data, path, ": cannot open input file for reading");
    Splitter splitter(split, fn);
    if (split.rule == SplitRule::file) {
      std::ostringstream all;
      all << in.rdbuf();
      splitter.line(all.str());
    } else {
      std::string line;
      while (std::getline(in, line)) {
        if (!in.eof()) line.push_back('\n');  // getline stopped at a newline, not at the end of the file
        splitter.line(line);
      }
    }
    STRATA_CHECK(!in.bad(), data, path, ": read error");
    splitter.finish();
  }
}

bool is_validation_document(std::string_view document, double valid_fraction, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then mixed with the seed
  for (const char c : document) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  h = splitmix64(h ^ splitmix64(seed));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return u < valid_fraction;
}

namespace {

// ---- the ranks of a build: agreement on failures, broadcast, gather ----

class Ranks {
 public:
  explicit Ranks(MPI_Comm comm) : comm_(comm) {
    if (comm_ == MPI_COMM_NULL) return;
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool failed() const { return failed_; }

  // One collective step: every rank says whether it failed (`error`); when any did, every rank throws
  // the first failing rank's error. Each rank calls agree() the same number of times, so a rank that
  // fails between two agreements skips ahead to the next one and meets the others there.
  void agree(std::exception_ptr error) {
    if (size_ == 1) {
      failed_ = error != nullptr;
      if (error) std::rethrow_exception(error);
      return;
    }
    int kind = 0;
    std::string message;
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const Error& e) {
        kind = e.exit_code();
        message = e.what();
      } catch (const std::exception& e) {
        kind = static_cast<int>(ErrorKind::internal);
        message = e.what();
      } catch (...) {
        kind = static_cast<int>(ErrorKind::internal);
        message = "unknown exception";
      }
    }
    const int local[2] = {kind != 0, kind != 0 ? -rank_ : -size_};
    int global[2] = {0, 0};
    MPI_CHECK(MPI_Allreduce(local, global, 2, MPI_INT, MPI_MAX, comm_));
    if (global[0] == 0) return;
    failed_ = true;
    const int first = -global[1];
    MPI_CHECK(MPI_Bcast(&kind, 1, MPI_INT, first, comm_));
    bcast(message, first);
    if (rank_ == first) std::rethrow_exception(error);
    throw Error(static_cast<ErrorKind>(kind), "rank " + std::to_string(first) + " failed: " + message, __FILE__,
                __LINE__);
  }
  void run(const std::function<void()>& step) {
    std::exception_ptr error;
    try {
      step();
    } catch (...) {
      error = std::current_exception();
    }
    agree(error);
  }

  void bcast(std::string& s, int from = 0) const {
    if (size_ == 1) return;
    std::uint64_t n = s.size();
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_UINT64_T, from, comm_));
    s.resize(n);
    for (std::uint64_t off = 0; off < n; off += max_message) {
      const int count = static_cast<int>(std::min<std::uint64_t>(max_message, n - off));
      MPI_CHECK(MPI_Bcast(s.data() + off, count, MPI_CHAR, from, comm_));
    }
  }

  // Rank 0 gets every rank's `v` (index = rank); the others get nothing. T: trivially copyable.
  template <typename T>
  std::vector<std::vector<T>> gather(const std::vector<T>& v) const {
    std::vector<std::vector<T>> all(root() ? static_cast<std::size_t>(size_) : 0);
    if (root()) all[0] = v;
    if (size_ == 1) return all;
    const auto chunk = [](std::uint64_t bytes, std::uint64_t off) {
      return static_cast<int>(std::min<std::uint64_t>(max_message, bytes - off));
    };
    if (!root()) {
      const std::uint64_t n = v.size(), bytes = n * sizeof(T);
      MPI_CHECK(MPI_Send(&n, 1, MPI_UINT64_T, 0, tag, comm_));
      const auto* data = reinterpret_cast<const char*>(v.data());
      for (std::uint64_t off = 0; off < bytes; off += max_message)
        MPI_CHECK(MPI_Send(data + off, chunk(bytes, off), MPI_BYTE, 0, tag, comm_));
      return all;
    }
    for (int r = 1; r < size_; ++r) {
      std::uint64_t n = 0;
      MPI_CHECK(MPI_Recv(&n, 1, MPI_UINT64_T, r, tag, comm_, MPI_STATUS_IGNORE));
      std::vector<T>& in = all[static_cast<std::size_t>(r)];
      in.resize(n);
      const std::uint64_t bytes = n * sizeof(T);
      auto* data = reinterpret_cast<char*>(in.data());
      for (std::uint64_t off = 0; off < bytes; off += max_message)
        MPI_CHECK(MPI_Recv(data + off, chunk(bytes, off), MPI_BYTE, r, tag, comm_, MPI_STATUS_IGNORE));
    }
    return all;
  }

 private:
  static constexpr std::uint64_t max_message = std::uint64_t{1} << 30;
  static constexpr int tag = 7301;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  bool failed_ = false;
};

// ---- progress on stderr ----

class Progress {
 public:
  static constexpr std::uint64_t large_input = std::uint64_t{64} << 20;
  Progress(std::string what, std::uint64_t total_bytes, bool allowed)
      : what_(std::move(what)),
        total_(total_bytes),
        enabled_(allowed && (total_bytes > large_input || isatty(STDERR_FILENO))),
        start_(std::chrono::steady_clock::now()),
        last_(start_) {}
  void add(std::uint64_t bytes) {
    bytes_ += bytes;
    ++docs_;
    if (enabled_ && std::chrono::steady_clock::now() - last_ >= std::chrono::seconds(2)) print();
  }
  void print() {
    last_ = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(last_ - start_).count();
    std::fprintf(stderr, "strata-data build: %s: %.1f of %.1f MB, %llu documents, %.2f MB/s\n", what_.c_str(),
                 bytes_ / 1e6, total_ / 1e6, static_cast<unsigned long long>(docs_), s > 0 ? bytes_ / 1e6 / s : 0.0);
    std::fflush(stderr);
  }
  void print_if(bool cond) {
    if (enabled_ && cond) print();
  }
  bool shown() const { return last_ != start_; }

 private:
  std::string what_;
  std::uint64_t total_, bytes_ = 0, docs_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

std::uint64_t total_file_bytes(const std::vector<std::string>& files) {
  std::uint64_t total = 0;
  for (const std::string& f : files) {
    std::error_code ec;
    const auto n = fs::file_size(f, ec);
    if (!ec) total += n;
  }
  return total;
}

const char* rule_name(SplitRule rule) {
  return rule == SplitRule::delimiter ? "delimiter" : rule == SplitRule::blank ? "blank" : "file";
}

void check_build_options(const BuildOptions& options) {
  STRATA_CHECK(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0, config, "--valid-fraction is ",
               options.valid_fraction, "; expected a number in [0, 1)");
  STRATA_CHECK(options.shard_tokens > 0, config, "--shard-tokens must be positive");
  STRATA_CHECK(options.block_bytes > 0, config, "--block-bytes must be positive");
  STRATA_CHECK(!options.out_dir.empty(), config, "--out is required");
  STRATA_CHECK(options.split.rule != SplitRule::delimiter || !options.split.delimiter.empty(), config,
               "--delimiter must not be empty");
}

void check_has_documents(std::uint64_t documents, const std::vector<std::string>& files, const BuildOptions& options) {
  std::string listed;
  for (const std::string& input : options.inputs) listed += (listed.empty() ? "" : " ") + input;
  STRATA_CHECK(documents > 0, data, "no documents in ", files.size(), " input file(s) (", listed, ") with the '",
               rule_name(options.split.rule), "' split rule; expected non-empty text");
}

// Option checks and input expansion, agreed by all ranks.
std::vector<std::string> build_inputs(const BuildOptions& options, Ranks& ranks) {
  std::vector<std::string> files;
  ranks.run([&] {
    check_build_options(options);
    files = expand_text_inputs(options.inputs);
  });
  return files;
}

void prepare_output(const BuildOptions& options, Ranks& ranks) {
  ranks.run([&] {
    check_build_options(options);
    if (!ranks.root()) return;
    std::error_code ec;
    fs::create_directories(options.out_dir, ec);
    STRATA_CHECK(!ec, internal, "cannot create output directory ", options.out_dir, ": ", ec.message());
    std::vector<fs::path> old_shards;
    for (const auto& entry : fs::directory_iterator(options.out_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if ((name.starts_with("train_") || name.starts_with("valid_")) &&
          (name.ends_with(".h5") || name.ends_with(".h5.tmp")))
        old_shards.push_back(entry.path());
    }
    STRATA_CHECK(old_shards.empty() || options.overwrite, config, "output directory ", options.out_dir,
                 " already holds shards (", old_shards.empty() ? "" : old_shards.front().filename().string(),
                 "); choose another --out or pass --overwrite to replace them");
    for (const fs::path& p : old_shards) fs::remove(p, ec);
  });
}

std::string summary_to_json(const BuildSummary& s) {
  nlohmann::json j;
  j["files"] = s.files;
  for (const auto& [name, split] : {std::pair{"train", &s.train}, std::pair{"valid", &s.valid}})
    j[name] = {{"documents", split->documents}, {"tokens", split->tokens}, {"shards", split->shards}};
  return j.dump();
}

BuildSummary summary_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  BuildSummary s;
  s.files = j["files"].get<std::uint64_t>();
  for (const auto& [name, split] : {std::pair{"train", &s.train}, std::pair{"valid", &s.valid}}) {
    split->documents = j[name]["documents"].get<std::uint64_t>();
    split->tokens = j[name]["tokens"].get<std::uint64_t>();
    split->shards = j[name]["shards"].get<std::vector<std::string>>();
  }
  return s;
}

}  // namespace

void run_collectively(MPI_Comm comm, const std::function<void()>& step) { Ranks(comm).run(step); }

void prepare_build_output(const BuildOptions& options, MPI_Comm comm) {
  Ranks ranks(comm);
  prepare_output(options, ranks);
}

BuildSummary build_text_shards(const BuildOptions& options, const Tokenizer& tokenizer, MPI_Comm comm) {
  Ranks ranks(comm);
  const std::vector<std::string> files = build_inputs(options, ranks);
  prepare_output(options, ranks);

  const std::int64_t vocab = tokenizer.vocab_size();
  const std::int32_t eos = tokenizer.eos_id();
  const fs::path out(options.out_dir);
  std::optional<ShardSetWriter> train, valid;  // rank 0's
  if (ranks.root()) {
    train.emplace((out / "train").string(), options.shard_tokens, vocab, eos);
    valid.emplace((out / "valid").string(), options.shard_tokens, vocab, eos);
  }
  // Rank 0 writes documents in order with one document of look-ahead: the last one may be moved to
  // keep both splits non-empty.
  std::vector<std::int32_t> pending;
  bool pending_valid = false, have_pending = false;
  const auto write_pending = [&] {
    ShardSetWriter& w = pending_valid ? *valid : *train;
    w.begin_document();
    w.append(pending);
  };
  const auto emit = [&](std::span<const std::int32_t> tokens, bool to_valid) {
    if (have_pending) write_pending();
    pending.assign(tokens.begin(), tokens.end());
    pending_valid = to_valid;
    have_pending = true;
  };

  // A block: the documents read since the last flush. This rank tokenizes the block's documents
  // i % size == rank into own_tokens (eos after each; own_lengths: tokens per document).
  std::vector<std::int32_t> own_tokens;
  std::vector<std::uint64_t> own_lengths;
  std::vector<char> block_valid;  // rank 0: the split of each document of the block
  std::uint64_t block_docs = 0, block_bytes = 0, documents = 0;
  const auto flush = [&] {
    ranks.agree(nullptr);
    const std::vector<std::vector<std::uint64_t>> lengths = ranks.gather(own_lengths);
    const std::vector<std::vector<std::int32_t>> tokens = ranks.gather(own_tokens);
    if (ranks.root()) {
      const auto n = static_cast<std::size_t>(ranks.size());
      std::vector<std::size_t> doc_cursor(n, 0), token_cursor(n, 0);
      for (std::uint64_t i = 0; i < block_docs; ++i) {
        const std::size_t r = i % n;
        const std::uint64_t len = lengths[r][doc_cursor[r]++];
        emit(std::span(tokens[r]).subspan(token_cursor[r], len), block_valid[i] != 0);
        token_cursor[r] += len;
      }
    }
    own_tokens.clear();
    own_lengths.clear();
    block_valid.clear();
    block_docs = block_bytes = 0;
  };

  Progress progress("tokenizing", total_file_bytes(files), options.progress && ranks.root());
  try {
    for_each_document(files, options.split, [&](std::string_view doc) {
      if (static_cast<int>(block_docs % static_cast<std::uint64_t>(ranks.size())) == ranks.rank()) {
        const std::size_t before = own_tokens.size();
        try {
          tokenizer.encode(doc, own_tokens);
        } catch (const Error& e) {
          throw Error(e.kind(), "document " + std::to_string(documents + 1) + " of the input: " + e.what(), __FILE__,
                      __LINE__);
        }
        own_tokens.push_back(eos);
        own_lengths.push_back(own_tokens.size() - before);
      }
      if (ranks.root()) block_valid.push_back(is_validation_document(doc, options.valid_fraction, options.seed));
      ++block_docs;
      ++documents;
      block_bytes += doc.size();
      progress.add(doc.size());
      if (block_bytes >= options.block_bytes) flush();
    });
    flush();
  } catch (...) {
    if (ranks.failed()) throw;  // already agreed
    ranks.agree(std::current_exception());
  }
  progress.print_if(progress.shown());

  std::string summary;
  ranks.run([&] {
    check_has_documents(documents, files, options);
    if (!ranks.root()) return;
    bool last_valid = pending_valid;
    if (options.valid_fraction > 0 && train->num_documents() + valid->num_documents() >= 1) {
      if (valid->num_documents() == 0) last_valid = true;
      if (train->num_documents() == 0) last_valid = false;
    }
    pending_valid = last_valid;
    write_pending();
    train->close();
    valid->close();
    BuildSummary s;
    s.files = files.size();
    s.train = {train->num_documents(), train->num_tokens(), train->paths()};
    s.valid = {valid->num_documents(), valid->num_tokens(), valid->paths()};
    summary = summary_to_json(s);
  });
  ranks.bcast(summary);
  return summary_from_json(summary);
}

BpeVocab train_bpe_for_build(const BuildOptions& options, const BpeTrainOptions& train, MPI_Comm comm) {
  Ranks ranks(comm);
  const std::vector<std::string> files = build_inputs(options, ranks);
  BpeWordCounts counts;
  std::uint64_t documents = 0;
  ranks.run([&] {
    const Gpt2PreTokenizer pre;
    Progress progress("counting words for BPE training", total_file_bytes(files), options.progress && ranks.root());
    const auto n = static_cast<std::uint64_t>(ranks.size());
    for_each_document(files, options.split, [&](std::string_view doc) {
      if (documents++ % n == static_cast<std::uint64_t>(ranks.rank())) counts.add_text(doc, pre);
      progress.add(doc.size());
    });
    progress.print_if(progress.shown());
    check_has_documents(documents, files, options);
  });
  const std::string share = counts.serialize();
  const std::vector<std::vector<char>> shares = ranks.gather(std::vector<char>(share.begin(), share.end()));
  std::string vocab_json, merges_txt;
  BpeVocab vocab;
  ranks.run([&] {
    if (!ranks.root()) return;
    for (std::size_t r = 1; r < shares.size(); ++r) counts.add_serialized({shares[r].data(), shares[r].size()});
    const auto start = std::chrono::steady_clock::now();
    auto last = start;
    const std::int64_t target = train.vocab_size - 257;
    const bool show =
        options.progress && (total_file_bytes(files) > Progress::large_input || isatty(STDERR_FILENO));
    vocab = train_bpe(counts, train, [&](std::size_t merges) {
      const auto now = std::chrono::steady_clock::now();
      if (!show || now - last < std::chrono::seconds(2)) return;
      last = now;
      std::fprintf(stderr, "strata-data build: BPE training: %zu of %lld merges, %.0f s\n", merges,
                   static_cast<long long>(target), std::chrono::duration<double>(now - start).count());
    });
    std::error_code ec;
    fs::create_directories(options.out_dir, ec);
    STRATA_CHECK(!ec, internal, "cannot create output directory ", options.out_dir, ": ", ec.message());
    write_bpe_vocab(vocab, options.out_dir);
    vocab_json = bpe_vocab_json(vocab);
    merges_txt = bpe_merges_txt(vocab);
  });
  ranks.bcast(vocab_json);
  ranks.bcast(merges_txt);
  if (!ranks.root()) vocab = parse_bpe_vocab(vocab_json, merges_txt, "vocab.json from rank 0", "merges.txt from rank 0");
  return vocab;
}

}  // namespace strata
