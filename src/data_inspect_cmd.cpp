// data_inspect_cmd.cpp — `strata-data inspect` and `strata-data verify`: look at and check shards.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <cstdint>
#include <iostream>

#include "io/byte_tokenizer.h"
#include "io/shard.h"
#include "io/token_dataset.h"
#include "src/data_commands.h"

namespace po = boost::program_options;

namespace strata {

int data_inspect(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data inspect [options] FILE...\n"
      "Prints each shard's token count, documents, vocabulary, type, storage and first tokens, decoded\n"
      "as text with the byte tokenizer (vocab_size 257) or a BPE vocabulary: --vocab/--merges, or the\n"
      "vocab.json + merges.txt that strata-data build wrote next to the shard.\n";
  std::size_t show = 0;
  std::string vocab, merges;
  po::options_description options("options");
  options.add_options()("tokens", po::value(&show)->default_value(64), "how many first tokens to print")
      ("vocab", po::value(&vocab), "BPE vocab.json to decode with (default: next to the shard)")
      ("merges", po::value(&merges), "BPE merges.txt to decode with (default: next to the shard)");
  po::variables_map vm;
  if (!parse_data_command("inspect", args, usage, options, "files", vm)) return 0;
  for (const std::string& path : vm["files"].as<std::vector<std::string>>()) {
    const Shard shard(path);
    const auto docs = shard.num_documents();
    std::cout << "file:        " << shard.path() << "\n"
              << "tokens:      " << shard.num_tokens() << "\n"
              << "documents:   " << (docs ? std::to_string(*docs) : "unknown (no /doc_offsets)") << "\n"
              << "vocab_size:  " << shard.vocab_size() << "\n"
              << "dtype:       " << shard.dtype_name() << "\n"
              << "eos_id:      " << (shard.eos_id() ? std::to_string(*shard.eos_id()) : "none") << "\n"
              << "storage:     " << shard.storage_description() << "\n";
    std::vector<std::int32_t> first(std::min<std::uint64_t>(show, shard.num_tokens()));
    shard.read(0, first.size(), first.data());
    std::cout << "first " << first.size() << " tokens:";
    for (const std::int32_t t : first) std::cout << " " << t;
    std::cout << "\n";
    const std::unique_ptr<Tokenizer> tok = shard_tokenizer(shard.path(), shard.vocab_size(), vocab, merges);
    if (tok != nullptr && std::all_of(first.begin(), first.end(), [&](std::int32_t t) { return t < tok->vocab_size(); })) {
      std::cout << "decoded (" << tok->name() << " tokenizer, <eos> marks document ends):\n"
                << tok->decode(first, "<eos>") << "\n";
    }
  }
  return 0;
}

int data_verify(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data verify FILE|DIR|GLOB...\n"
      "Checks every shard (directories: their *.h5 files): the shard format, one vocab_size for all,\n"
      "every token < vocab_size and /doc_offsets. Prints OK and exits 0, or names the file and offset\n"
      "of the first problem and exits 3.\n";
  po::options_description options("options");
  po::variables_map vm;
  if (!parse_data_command("verify", args, usage, options, "paths", vm)) return 0;
  const TokenDataset dataset(vm["paths"].as<std::vector<std::string>>(), "verify");
  dataset.validate_tokens();
  std::cout << "OK: " << dataset.num_shards() << " shard(s), " << dataset.num_tokens() << " tokens, vocab_size "
            << dataset.vocab_size() << "\n";
  return 0;
}

}  // namespace strata
