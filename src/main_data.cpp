// main_data.cpp — strata-data: `build` text into token shards, `inspect` and `verify` shards
// (SPEC sections 3 and 7). Dispatches to the subcommands of src/data_commands.h.
// Exit codes: 0 ok, 2 usage, 3 bad input data, 1 anything else.
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "parallel/mpi_env.h"
#include "src/data_commands.h"

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
    "  import   convert llm.c, Megatron-LM, raw or .npy token files into shards\n"
    "\n"
    "Run 'strata-data <command> --help' for the options of a command. Exit codes: 0 success,\n"
    "2 usage error, 3 bad input data, 1 other failures. The shard format is in docs/data.md.\n";

}  // namespace

int main(int argc, char** argv) {
  std::optional<MpiSession> mpi;  // `build` runs under mpirun too (one rank without it)
  std::string error = "strata-data: error: ";
  try {
    const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
    const std::string command = argc >= 2 ? argv[1] : "";
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << main_usage;
      return 0;
    }
    if (command == "build") {
      mpi.emplace(&argc, &argv);
      if (mpi->size() > 1) error = "strata-data: rank " + std::to_string(mpi->rank()) + ": error: ";
      return data_build(args);
    }
    if (command == "inspect") return data_inspect(args);
    if (command == "verify") return data_verify(args);
    if (command == "import") return data_import(args);
    std::cerr << (command.empty() ? "strata-data: error: missing command\n"
                                  : "strata-data: error: unknown command '" + command + "'\n")
              << main_usage;
    return 2;
  } catch (const Error& e) {
    std::cerr << error << e.what() << "\n";
    return e.exit_code();
  } catch (const po::error& e) {
    std::cerr << error << e.what() << " (see 'strata-data " << (argc >= 2 ? argv[1] : "")
              << " --help')\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << error << e.what() << "\n";
    return 1;
  }
}
