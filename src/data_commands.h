// data_commands.h — the subcommands of strata-data (src/main_data.cpp dispatches to them). Each takes
// the arguments after the command name, prints its results, returns the exit code for success, and
// throws Error (or boost::program_options::error for usage errors) otherwise.
#pragma once

#include <string>
#include <vector>

#include "src/subcommand.h"

namespace strata {

int data_build(const std::vector<std::string>& args);    // data_build_cmd.cpp
int data_inspect(const std::vector<std::string>& args);  // data_inspect_cmd.cpp
int data_verify(const std::vector<std::string>& args);   // data_inspect_cmd.cpp
int data_import(const std::vector<std::string>& args);   // data_import_cmd.cpp

// parse_subcommand for strata-data.
inline bool parse_data_command(const std::string& command, const std::vector<std::string>& args,
                               const std::string& usage, boost::program_options::options_description& options,
                               const char* positional, boost::program_options::variables_map& vm) {
  return parse_subcommand("strata-data", command, args, usage, options, positional, vm);
}

}  // namespace strata
