// ckpt_common.cpp — what the strata-ckpt subcommands share (see ckpt_commands.h).
#include <filesystem>
#include <iostream>

#include "io/shard.h"
#include "kernels/error.h"
#include "src/checkpoint_model.h"
#include "src/ckpt_commands.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace strata {

std::vector<std::string> parse_ckpt_command(const std::string& command, const std::vector<std::string>& args,
                                            const std::string& usage, po::options_description& options,
                                            std::size_t count, bool& help) {
  po::variables_map vm;
  help = !parse_subcommand("strata-ckpt", command, args, usage, options, "arguments", vm);
  if (help) return {};
  auto positional = vm["arguments"].as<std::vector<std::string>>();
  STRATA_CHECK(positional.size() == count, config, "strata-ckpt ", command, " takes ", count, " argument",
               count == 1 ? "" : "s", ", found ", positional.size(), " (see 'strata-ckpt ", command, " --help')");
  return positional;
}

std::unique_ptr<Tokenizer> checkpoint_tokenizer(const std::string& choice, const ToolCheckpoint& c) {
  if (choice == "byte") return make_tokenizer("byte");
  if (!choice.empty()) {
    const fs::path d(choice);
    return make_tokenizer("bpe", (d / "vocab.json").string(), (d / "merges.txt").string());
  }
  std::string shard_path;
  std::int64_t vocab = 0;
  try {
    STRATA_CHECK(!c.config.data.train.empty(), config, "the saved configuration has no data.train");
    shard_path = expand_shard_paths(c.config.data.train, "data.train").at(0);
    vocab = Shard(shard_path).vocab_size();
  } catch (const Error& e) {
    STRATA_THROW(config, "cannot find the tokenizer the training data was built with (", e.what(),
                 "); run from the directory training ran in, or give --tokenizer byte|DIR");
  }
  auto tok = shard_tokenizer(shard_path, vocab);
  STRATA_CHECK(tok, config, shard_path, ": vocab_size ", vocab, " and no vocab.json + merges.txt beside it: cannot "
               "tell its tokenizer; give --tokenizer DIR (a directory holding vocab.json and merges.txt)");
  return tok;
}

ToolCheckpoint load_tool_checkpoint(const std::string& path) {
  ToolCheckpoint c;
  c.dir = resolve_checkpoint(path);
  c.contents = read_checkpoint(c.dir);
  c.config = checkpoint_config(c.contents, c.dir);
  c.shape = c.config.shape();
  c.shape.tensor = 1;
  check_checkpoint_tensors(c.contents, c.shape, c.dir);
  return c;
}

}  // namespace strata
