// data_build_cmd.cpp — `strata-data build`: text files into train/valid token shards.
#include <cstdint>
#include <iostream>
#include <utility>

#include "io/byte_tokenizer.h"
#include "io/text_documents.h"
#include "kernels/error.h"
#include "src/data_commands.h"

namespace po = boost::program_options;

namespace strata {
namespace {

std::string shard_list(const std::vector<std::string>& shards) {
  if (shards.empty()) return "";
  if (shards.size() == 1) return ": " + shards.front();
  return ": " + shards.front() + (shards.size() > 2 ? " ... " : " ") + shards.back();
}

}  // namespace

int data_build(const std::vector<std::string>& args) {
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
  if (!parse_data_command("build", args, usage, options, "inputs", vm)) return 0;
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

}  // namespace strata
