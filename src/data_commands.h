// data_commands.h — the subcommands of strata-data (src/main_data.cpp dispatches to them). Each takes
// the arguments after the command name, prints its results, returns the exit code for success, and
// throws Error (or boost::program_options::error for usage errors) otherwise.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace strata {

int data_build(const std::vector<std::string>& args);    // data_build_cmd.cpp
int data_inspect(const std::vector<std::string>& args);  // data_inspect_cmd.cpp
int data_verify(const std::vector<std::string>& args);   // data_inspect_cmd.cpp
int data_import(const std::vector<std::string>& args);   // data_import_cmd.cpp

// Parses a command's arguments; the positional arguments go to `positional`. Returns false when
// --help was given (after printing the usage and the options).
bool parse_data_command(const std::string& command, const std::vector<std::string>& args, const std::string& usage,
                        boost::program_options::options_description& options, const char* positional,
                        boost::program_options::variables_map& vm);

}  // namespace strata
