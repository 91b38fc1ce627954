// data_import_cmd.cpp — `strata-data import`: llm.c, Megatron-LM, raw and .npy token files into shards.
#include <cstdint>
#include <iostream>

#include "io/import_raw.h"
#include "io/import_source.h"
#include "kernels/error.h"
#include "src/data_commands.h"

namespace po = boost::program_options;

namespace strata {

int data_import(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data import --format llmc|megatron|raw|npy [options] --out DIR INPUT...\n"
      "Converts already tokenized data into DIR/<name>_NNNNNN.h5 token shards, streaming (any input size),\n"
      "the INPUTs concatenated in order. Every token is checked against --vocab-size. Formats:\n"
      "  llmc      llm.c .bin token files (gpt-2 uint16 or llama-3 uint32); documents begin at each\n"
      "            <|endoftext|> 50256 (llama-3: <|begin_of_text|> 128000); vocab-size defaults to\n"
      "            50257 (llama-3: 128256) and eos-id to 50256 for gpt-2 files\n"
      "  megatron  Megatron-LM indexed datasets: INPUT is PREFIX (or PREFIX.bin / PREFIX.idx);\n"
      "            documents from the index\n"
      "  raw       headerless little-endian arrays of --dtype uint16|uint32\n"
      "  npy       NumPy .npy files: 1-D, integer dtype (|u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8)\n"
      "For raw and npy each file begins a document, and with --eos-id so does the token after each eos.\n";
  std::string format_name, dtype_name;
  std::int64_t vocab_size = 0, eos_id = -1, shard_tokens = 0;
  ImportOptions opt;
  po::options_description options("options");
  options.add_options()
      ("format", po::value(&format_name)->required(), "input format: llmc, megatron, raw or npy")
      ("dtype", po::value(&dtype_name), "token type of raw inputs: uint16 or uint32 (raw only, required there)")
      ("vocab-size", po::value(&vocab_size), "vocabulary size: every token must be below it (required except llmc)")
      ("eos-id", po::value(&eos_id), "end-of-document token id, stored as the shards' eos_id")
      ("shard-tokens", po::value(&shard_tokens)->default_value(100'000'000), "tokens per shard file")
      ("out", po::value(&opt.out_dir)->required(), "output directory (created if missing)")
      ("name", po::value(&opt.name)->default_value("train"), "shard name prefix: DIR/<name>_NNNNNN.h5")
      ("overwrite", po::bool_switch(&opt.overwrite), "replace <name>_* shards already in the output directory");
  po::variables_map vm;
  if (!parse_data_command("import", args, usage, options, "inputs", vm)) return 0;
  opt.format = parse_import_format(format_name);
  if (vm.count("dtype")) opt.raw_dtype = parse_raw_dtype(dtype_name);
  if (vm.count("vocab-size")) opt.vocab_size = vocab_size;
  if (vm.count("eos-id")) {
    STRATA_CHECK(eos_id >= 0 && eos_id <= INT32_MAX, config, "--eos-id is ", eos_id, "; expected an id >= 0");
    opt.eos_id = static_cast<std::int32_t>(eos_id);
  }
  STRATA_CHECK(shard_tokens > 0, config, "--shard-tokens is ", shard_tokens, "; expected a positive integer");
  opt.shard_tokens = static_cast<std::uint64_t>(shard_tokens);
  opt.inputs = vm["inputs"].as<std::vector<std::string>>();

  const ImportSummary s = import_token_shards(opt);
  std::cout << "strata-data import: " << s.files << " input file(s), " << s.description << "\n"
            << "  " << s.tokens << " tokens, " << s.documents << " documents, vocab_size " << s.vocab_size
            << ", eos_id " << (s.eos_id ? std::to_string(*s.eos_id) : "none") << "\n"
            << "  " << s.shards.size() << " shard(s): " << s.shards.front()
            << (s.shards.size() > 2 ? " ... " : s.shards.size() == 2 ? " " : "")
            << (s.shards.size() > 1 ? s.shards.back() : "") << "\n";
  return 0;
}

}  // namespace strata
