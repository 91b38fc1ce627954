// text_documents.cpp — input expansion, document splitting and the text -> shards build.
#include "io/text_documents.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "io/byte_tokenizer.h"
#include "io/shard.h"
#include "kernels/error.h"

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

BuildSummary build_text_shards(const BuildOptions& options, const Tokenizer& tokenizer) {
  STRATA_CHECK(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0, config, "--valid-fraction is ",
               options.valid_fraction, "; expected a number in [0, 1)");
  STRATA_CHECK(options.shard_tokens > 0, config, "--shard-tokens must be positive");
  STRATA_CHECK(!options.out_dir.empty(), config, "--out is required");
  STRATA_CHECK(options.split.rule != SplitRule::delimiter || !options.split.delimiter.empty(), config,
               "--delimiter must not be empty");
  const std::vector<std::string> files = expand_text_inputs(options.inputs);

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

  const std::int64_t vocab = tokenizer.vocab_size();
  const std::int32_t eos = tokenizer.eos_id();
  const fs::path out(options.out_dir);
  ShardSetWriter train((out / "train").string(), options.shard_tokens, vocab, eos);
  ShardSetWriter valid((out / "valid").string(), options.shard_tokens, vocab, eos);
  std::vector<std::int32_t> tokens;
  auto write = [&](std::string_view doc, bool to_valid) {
    tokens.clear();
    tokenizer.encode(doc, tokens);
    tokens.push_back(eos);
    ShardSetWriter& w = to_valid ? valid : train;
    w.begin_document();
    w.append(tokens);
  };
  auto to_valid = [&](std::string_view doc) {
    return is_validation_document(doc, options.valid_fraction, options.seed);
  };

  // One document of look-ahead: the last document may be moved to keep both splits non-empty.
  std::optional<std::string> pending;
  for_each_document(files, options.split, [&](std::string_view doc) {
    if (pending) write(*pending, to_valid(*pending));
    pending = std::string(doc);
  });
  std::string listed;
  for (const std::string& input : options.inputs) listed += (listed.empty() ? "" : " ") + input;
  STRATA_CHECK(pending.has_value(), data, "no documents in ", files.size(), " input file(s) (", listed,
               ") with the '", options.split.rule == SplitRule::delimiter ? "delimiter"
                                : options.split.rule == SplitRule::blank ? "blank"
                                                                          : "file",
               "' split rule; expected non-empty text");
  bool last_valid = to_valid(*pending);
  if (options.valid_fraction > 0 && train.num_documents() + valid.num_documents() >= 1) {
    if (valid.num_documents() == 0) last_valid = true;
    if (train.num_documents() == 0) last_valid = false;
  }
  write(*pending, last_valid);
  train.close();
  valid.close();

  BuildSummary summary;
  summary.files = files.size();
  summary.train = {train.num_documents(), train.num_tokens(), train.paths()};
  summary.valid = {valid.num_documents(), valid.num_tokens(), valid.paths()};
  return summary;
}

}  // namespace strata
