// ckpt_inspect_cmd.cpp — `strata-ckpt inspect` and `strata-ckpt verify`.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "src/checkpoint_model.h"
#include "src/ckpt_commands.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace strata {
namespace {

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) total += entry.file_size();
  return total;
}

std::uint64_t tensor_bytes(const TensorList& tensors) {
  std::uint64_t n = 0;
  for (const NamedTensor& t : tensors) n += 4 * t.data.size();
  return n;
}

}  // namespace

int ckpt_inspect(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt inspect [options] CHECKPOINT\n"
      "Prints the checkpoint's step, training position, the layout and model it was saved with, its\n"
      "parameter count and sizes (CHECKPOINT: a step directory, or a checkpoint directory's latest).\n"
      "Reading it checks every checksum, as verify does.\n";
  bool list = false, config = false, help = false;
  po::options_description options("options");
  options.add_options()("tensors", po::bool_switch(&list), "also list every parameter tensor with its shape")(
      "config", po::bool_switch(&config), "also print the configuration it was saved with");
  const auto paths = parse_ckpt_command("inspect", args, usage, options, 1, help);
  if (help) return 0;
  const ToolCheckpoint c = load_tool_checkpoint(paths[0]);
  const CheckpointContents& k = c.contents;
  const GptShape& s = c.shape;
  const double mib = 1024.0 * 1024.0;
  std::uint64_t params = 0;
  for (const NamedTensor& t : k.params) params += t.data.size();
  std::printf("checkpoint:  %s\n", c.dir.c_str());
  std::printf("format:      version %d\n", k.format_version);
  std::printf("step:        %" PRId64 " (%" PRId64 " tokens trained, next sample %" PRIu64 ", next lr %.6g, seed %" PRIu64 ")\n",
              k.step, k.tokens, k.loader_next_sample, k.lr, k.seed);
  std::printf("saved with:  %s\n", k.layout.empty() ? "(not recorded)" : k.layout.c_str());
  std::printf("model:       %d layers, hidden %d, heads %d, seq_len %d, vocab_size %d\n", s.layers, s.hidden, s.heads,
              s.seq_len, s.vocab_size);
  std::printf("parameters:  %" PRIu64 " (%zu tensors; %" PRId64 " in training with the vocabulary padded to %d)\n",
              params, k.params.size(), gpt_parameter_count(s), s.padded_vocab());
  std::printf("sizes:       parameters %.2f MiB, Adam moments %.2f MiB, files %.2f MiB on disk\n",
              tensor_bytes(k.params) / mib, (tensor_bytes(k.exp_avg) + tensor_bytes(k.exp_avg_sq)) / mib,
              directory_bytes(c.dir) / mib);
  if (list)
    for (const NamedTensor& t : k.params) std::printf("  %-28s %s\n", t.name.c_str(), shape_string(t.shape).c_str());
  if (config) std::printf("configuration:\n%s", k.config_ini.c_str());
  return 0;
}

int ckpt_verify(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt verify CHECKPOINT\n"
      "Reads every dataset of the checkpoint and checks its checksum, the format version, the saved\n"
      "configuration, and every tensor's shape against that configuration's model. Prints OK and exits\n"
      "0, or names the file and dataset of the first problem and exits 3.\n";
  bool help = false;
  po::options_description options("options");
  const auto paths = parse_ckpt_command("verify", args, usage, options, 1, help);
  if (help) return 0;
  const ToolCheckpoint c = load_tool_checkpoint(paths[0]);
  std::printf("OK: %s: step %" PRId64 ", %zu datasets (parameters and Adam moments), every checksum matches\n",
              c.dir.c_str(), c.contents.step,
              c.contents.params.size() + c.contents.exp_avg.size() + c.contents.exp_avg_sq.size());
  return 0;
}

}  // namespace strata
