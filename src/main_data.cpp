// main_data.cpp — strata-data: `build` text into token shards, `inspect` and `verify` shards
// (SPEC sections 3 and 7). Command-line parsing and printing only; the work lives in io/.
// Exit codes: 0 ok, 2 usage, 3 bad input data, 1 anything else.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "io/byte_tokenizer.h"
#include "io/shard.h"
#include "io/text_documents.h"
#include "io/token_dataset.h"
#include "kernels/error.h"

namespace po = boost::program_options;
using namespace strata;

namespace {

constexpr const char* main_usage =
    "usage: strata-data <command> [options] [arguments]\n"
    "\n"
    "commands:\n"
    "  build    tokenize text files into train/valid HDF5 token shards\n"
    "  inspect  print a shard's size, vocabulary, type and first tokens\n"
    "  verify   check shards: format, and every token < vocab_size\n"
    "\n"
    "Run 'strata-data <command> --help' for the options of a command. Exit codes: 0 success,\n"
    "2 usage error, 3 bad input data, 1 other failures. The shard format is in docs/data.md.\n";

// Parses a command's arguments; the positional arguments go to `positional`. Returns false when
// --help was given (after printing the help).
bool parse(const std::string& command, const std::vector<std::string>& args, const std::string& usage,
           po::options_description& options, const char* positional, po::variables_map& vm) {
  options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(options).add_options()(positional, po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add(positional, -1);
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n" << options;
    return false;
  }
  po::notify(vm);
  STRATA_CHECK(vm.count(positional), config, "missing ", positional, " (see 'strata-data ", command, " --help')");
  return true;
}

std::string shard_list(const std::vector<std::string>& shards) {
  if (shards.empty()) return "";
  if (shards.size() == 1) return ": " + shards.front();
  return ": " + shards.front() + (shards.size() > 2 ? " ... " : " ") + shards.back();
}

int cmd_build(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data build [options] --out DIR INPUT...\n"
      "Splits the INPUT files (files, directories searched recursively, or globs) into documents,\n"
      "tokenizes them with an end-of-document token after each, assigns each document to the train or\n"
      "valid split by a seeded hash of its text, and writes DIR/train_NNNNNN.h5 and DIR/valid_NNNNNN.h5.\n";
  BuildOptions opt;
  std::string tokenizer_name, split_name;
  std::int64_t shard_tokens = 0;
  po::options_description options("options");
  options.add_options()
      ("tokenizer", po::value(&tokenizer_name)->default_value("byte"), "tokenizer: byte (ids 0-255 bytes, 256 eos)")
      ("split", po::value(&split_name)->default_value("delimiter"), "document split rule: delimiter, blank or file")
      ("delimiter", po::value(&opt.split.delimiter)->default_value("%"), "delimiter line for --split delimiter")
      ("valid-fraction", po::value(&opt.valid_fraction)->default_value(0.05), 
       "fraction of documents for validation, in [0, 1)")
      ("shard-tokens", po::value(&shard_tokens)->default_value(100'000'000), "tokens per shard file")
      ("seed", po::value(&opt.seed)->default_value(1234), "seed of the train/valid assignment")
      ("out", po::value(&opt.out_dir)->required(), "output directory (created if missing)")
      ("overwrite", po::bool_switch(&opt.overwrite), "replace shards already in the output directory");
  po::variables_map vm;
  if (!parse("build", args, usage, options, "inputs", vm)) return 0;
  STRATA_CHECK(shard_tokens > 0, config, "--shard-tokens is ", shard_tokens, "; expected a positive integer");
  opt.shard_tokens = static_cast<std::uint64_t>(shard_tokens);
  opt.split.rule = parse_split_rule(split_name);
  opt.inputs = vm["inputs"].as<std::vector<std::string>>();
  const auto tokenizer = make_tokenizer(tokenizer_name);

  const BuildSummary s = build_text_shards(opt, *tokenizer);
  std::cout << "strata-data build: " << s.files << " input file(s), " << s.train.documents + s.valid.documents
            << " documents, tokenizer " << tokenizer->name() << " (vocab_size " << tokenizer->vocab_size()
            << ", eos_id " << tokenizer->eos_id() << ")\n";
  for (const auto& [name, split] : {std::pair{"train", &s.train}, std::pair{"valid", &s.valid}}) {
    std::cout << "  " << name << ": " << split->documents << " documents, " << split->tokens << " tokens, "
              << split->shards.size() << " shard(s)" << shard_list(split->shards) << "\n";
  }
  return 0;
}

int cmd_inspect(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data inspect [options] FILE...\n"
      "Prints each shard's token count, documents, vocabulary, type, storage and first tokens.\n";
  std::size_t show = 0;
  po::options_description options("options");
  options.add_options()("tokens", po::value(&show)->default_value(64), "how many first tokens to print");
  po::variables_map vm;
  if (!parse("inspect", args, usage, options, "files", vm)) return 0;
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
    const bool bytes = shard.vocab_size() == ByteTokenizer::vocab &&
                       std::all_of(first.begin(), first.end(), [](std::int32_t t) { return t < ByteTokenizer::vocab; });
    if (bytes) {
      std::cout << "decoded (byte tokenizer, <eos> marks document ends):\n"
                << ByteTokenizer().decode(first, "<eos>") << "\n";
    }
  }
  return 0;
}

int cmd_verify(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data verify FILE|DIR|GLOB...\n"
      "Checks every shard (directories: their *.h5 files): the shard format, one vocab_size for all,\n"
      "every token < vocab_size and /doc_offsets. Prints OK and exits 0, or names the file and offset\n"
      "of the first problem and exits 3.\n";
  po::options_description options("options");
  po::variables_map vm;
  if (!parse("verify", args, usage, options, "paths", vm)) return 0;
  const TokenDataset dataset(vm["paths"].as<std::vector<std::string>>(), "verify");
  dataset.validate_tokens();
  std::cout << "OK: " << dataset.num_shards() << " shard(s), " << dataset.num_tokens() << " tokens, vocab_size "
            << dataset.vocab_size() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
    const std::string command = argc >= 2 ? argv[1] : "";
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << main_usage;
      return 0;
    }
    if (command == "build") return cmd_build(args);
    if (command == "inspect") return cmd_inspect(args);
    if (command == "verify") return cmd_verify(args);
    std::cerr << (command.empty() ? "strata-data: error: missing command\n"
                                  : "strata-data: error: unknown command '" + command + "'\n")
              << main_usage;
    return 2;
  } catch (const Error& e) {
    std::cerr << "strata-data: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const po::error& e) {
    std::cerr << "strata-data: error: " << e.what() << " (see 'strata-data " << (argc >= 2 ? argv[1] : "")
              << " --help')\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "strata-data: error: " << e.what() << "\n";
    return 1;
  }
}
