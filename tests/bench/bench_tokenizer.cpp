// bench_tokenizer.cpp — single-thread encoding speed (MB/s per core) of the byte and BPE tokenizers on
// a text file, and BPE training time:
//   bench_tokenizer FILE [--vocab-size N | --vocab vocab.json --merges merges.txt] [--seconds S]
// Without vocabulary files it trains a BPE of N tokens (default 8192) on FILE itself. The BPE figures:
// "cold" is the first pass (every distinct word goes through the merge loop once), "warm" a later
// pass (words come from the cache), "regex" the GPT-2 pre-tokenization alone. Run with
// OMP_WAIT_POLICY=passive on a quiet machine.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/bpe_trainer.h"
#include "io/byte_tokenizer.h"
#include "io/gpt2_pretokenize.h"
#include "kernels/error.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs `pass` (one pass over `bytes` of text) repeatedly for at least `min_seconds`; returns MB/s.
double throughput(std::size_t bytes, double min_seconds, const std::function<void()>& pass) {
  const auto start = Clock::now();
  int passes = 0;
  do {
    pass();
    ++passes;
  } while (seconds_since(start) < min_seconds);
  return static_cast<double>(bytes) * passes / 1e6 / seconds_since(start);
}

// The text cut into lines of documents (~4 KiB each, at line ends), as strata-data build feeds them.
std::vector<std::string> documents(const std::string& text) {
  std::vector<std::string> docs;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = std::min(text.size(), start + 4096);
    const std::size_t nl = text.find('\n', end);
    end = nl == std::string::npos ? text.size() : nl + 1;
    docs.push_back(text.substr(start, end - start));
    start = end;
  }
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace strata;
  std::string path, vocab_path, merges_path;
  std::int64_t vocab_size = 8192;
  double min_seconds = 2.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--vocab-size" && i + 1 < argc) vocab_size = std::atoll(argv[++i]);
    else if (a == "--vocab" && i + 1 < argc) vocab_path = argv[++i];
    else if (a == "--merges" && i + 1 < argc) merges_path = argv[++i];
    else if (a == "--seconds" && i + 1 < argc) min_seconds = std::atof(argv[++i]);
    else path = a;
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: bench_tokenizer FILE [--vocab-size N | --vocab V --merges M] [--seconds S]\n");
    return 2;
  }
  try {
    std::ifstream in(path, std::ios::binary);
    STRATA_CHECK(in.is_open(), data, path, ": cannot open");
    std::ostringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const std::vector<std::string> docs = documents(text);
    std::printf("input: %s, %.2f MB, %zu documents of ~4 KiB\n", path.c_str(), text.size() / 1e6, docs.size());

    std::unique_ptr<BpeTokenizer> bpe;
    const Gpt2PreTokenizer pre;
    if (!vocab_path.empty()) {
      bpe = BpeTokenizer::load(vocab_path, merges_path);
    } else {
      auto t = Clock::now();
      BpeWordCounts counts;
      for (const std::string& d : docs) counts.add_text(d, pre);
      const double count_s = seconds_since(t);
      t = Clock::now();
      BpeTrainOptions opt;
      opt.vocab_size = vocab_size;
      bpe = std::make_unique<BpeTokenizer>(train_bpe(counts, opt));
      std::printf("bpe training: %zu distinct words counted in %.2f s, %zu merges in %.2f s\n", counts.words().size(),
                  count_s, bpe->vocab().merges.size(), seconds_since(t));
    }
    std::printf("bpe: vocab_size %lld, eos_id %d, PCRE2 JIT %s\n", static_cast<long long>(bpe->vocab_size()),
                bpe->eos_id(), pre.jit() ? "on" : "off");

    std::vector<std::int32_t> ids;
    const double byte_mbs = throughput(text.size(), min_seconds, [&] {
      ByteTokenizer byte;
      for (const std::string& d : docs) {
        ids.clear();
        byte.encode(d, ids);
      }
    });
    std::vector<std::string_view> pieces;
    const double regex_mbs = throughput(text.size(), min_seconds, [&] {
      for (const std::string& d : docs) pre.split(d, pieces);
    });
    std::size_t tokens = 0;
    const auto cold_start = Clock::now();
    for (const std::string& d : docs) {
      ids.clear();
      bpe->encode(d, ids);
      tokens += ids.size();
    }
    const double cold_mbs = text.size() / 1e6 / seconds_since(cold_start);
    for (const std::string& d : docs)
      STRATA_CHECK(bpe->decode(bpe->encode(d)) == d, internal, "bpe decode(encode(text)) differs from the text");
    const double warm_mbs = throughput(text.size(), min_seconds, [&] {
      for (const std::string& d : docs) {
        ids.clear();
        bpe->encode(d, ids);
      }
    });
    std::printf("bpe: %zu tokens, %.2f bytes/token, %zu words cached\n", tokens,
                static_cast<double>(text.size()) / static_cast<double>(tokens), bpe->cached_words());
    std::printf("encode MB/s per core: byte %.1f | bpe cold %.1f, warm %.1f | GPT-2 regex alone %.1f\n", byte_mbs,
                cold_mbs, warm_mbs, regex_mbs);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_tokenizer: error: %s\n", e.what());
    return e.exit_code();
  }
}
