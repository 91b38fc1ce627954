// ckpt_commands.h — the subcommands of strata-ckpt (src/main_ckpt.cpp dispatches to them). Each takes
// the arguments after the command name, prints its results, returns the exit code for success, and
// throws Error (or boost::program_options::error for usage errors) otherwise.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/byte_tokenizer.h"
#include "io/checkpoint_file.h"
#include "src/config.h"
#include "src/subcommand.h"

namespace strata {

int ckpt_inspect(const std::vector<std::string>& args);  // ckpt_inspect_cmd.cpp
int ckpt_verify(const std::vector<std::string>& args);   // ckpt_inspect_cmd.cpp
int ckpt_export(const std::vector<std::string>& args);   // ckpt_convert_cmd.cpp
int ckpt_import(const std::vector<std::string>& args);   // ckpt_convert_cmd.cpp
int ckpt_sample(const std::vector<std::string>& args);   // ckpt_sample_cmd.cpp
int ckpt_logits(const std::vector<std::string>& args);   // ckpt_sample_cmd.cpp

// parse_subcommand for strata-ckpt, requiring exactly `count` positional arguments (Error config).
std::vector<std::string> parse_ckpt_command(const std::string& command, const std::vector<std::string>& args,
                                            const std::string& usage,
                                            boost::program_options::options_description& options,
                                            std::size_t count, bool& help);

// A checkpoint read whole by one process, checked: every checksum (read_checkpoint), the configuration
// it was saved with, and every tensor's name and shape against that configuration's model.
struct ToolCheckpoint {
  std::string dir;  // the step directory
  CheckpointContents contents;
  Config config;
  GptShape shape;   // the model, on one rank (tensor 1)
};
ToolCheckpoint load_tool_checkpoint(const std::string& path);  // ckpt_common.cpp

// The tokenizer to encode and decode a checkpoint's tokens with. `choice`: "byte", or a directory holding
// vocab.json + merges.txt; empty: the tokenizer of the first shard of the saved data.train, resolved from
// the current directory (the byte tokenizer, or the files strata-data build wrote beside the shards).
// Error (config) when it cannot be found, (data) for unreadable tokenizer files.
std::unique_ptr<Tokenizer> checkpoint_tokenizer(const std::string& choice, const ToolCheckpoint& c);

}  // namespace strata
