// main_data.cpp — strata-data: `build` text into token shards, `inspect` and `verify` shards
// (SPEC sections 3 and 7). Dispatches to the subcommands of src/data_commands.h.
// Exit codes: 0 ok, 2 usage, 3 bad input data, 1 anything else.
#include <iostream>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "src/data_commands.h"
#include "src/program_main.h"
#include "src/subcommand.h"

using namespace strata;

namespace {

constexpr const char* main_usage =
    "usage: strata-data <command> [options] [arguments]\n"
    "\n"
    "commands:\n"
    "  build    tokenize text files into train/valid HDF5 token shards\n"
    "  inspect  print a shard's size, vocabulary, type and first tokens\n"
    "  verify   check shards: format, and every token < vocab_size\n"
    "  import   convert llm.c, Megatron-LM, raw or .npy token files into shards\n"
    "\n"
    "Run 'strata-data <command> --help' for the options of a command. Exit codes: 0 success,\n"
    "2 usage error, 3 bad input data, 1 other failures. The shard format is in docs/data.md.\n";

}  // namespace

int main(int argc, char** argv) {
  ProgramMain program("strata-data", std::string("strata-data ") + (argc >= 2 ? argv[1] : ""));
  return program.run([&] {
    const SubcommandLine line(argc, argv);
    const std::string& command = line.command;
    const std::vector<std::string>& args = line.args;
    if (line.wants_help()) {
      std::cout << main_usage;
      return 0;
    }
    if (command == "build") {
      program.start_mpi(&argc, &argv);  // `build` runs under mpirun too (one rank without it)
      return data_build(args);
    }
    if (command == "inspect") return data_inspect(args);
    if (command == "verify") return data_verify(args);
    if (command == "import") return data_import(args);
    return reject_subcommand("strata-data", command, main_usage);
  });
}
