// subcommand.h — the command line of the programs with subcommands (strata-data, strata-ckpt): the
// command and its arguments, the answer to a missing or unknown command, and option parsing.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace strata {

// argv[1] ("" when missing) and the arguments after it.
struct SubcommandLine {
  SubcommandLine(int argc, char** argv)
      : command(argc >= 2 ? argv[1] : ""), args(argv + (argc >= 2 ? 2 : argc), argv + argc) {}
  bool wants_help() const { return command == "--help" || command == "-h" || command == "help"; }
  std::string command;
  std::vector<std::string> args;
};

// A missing or unknown command: says so and prints `usage` on stderr; returns exit code 2.
int reject_subcommand(const std::string& program, const std::string& command, const char* usage);

// Parses the arguments of `program command` (those after the command name); the positional arguments
// go to `positional` (a vector of strings). Returns false when --help was given (after printing `usage`
// and the options). Error (config) when no positional argument is given.
bool parse_subcommand(const std::string& program, const std::string& command, const std::vector<std::string>& args,
                      const std::string& usage, boost::program_options::options_description& options,
                      const char* positional, boost::program_options::variables_map& vm);

}  // namespace strata
