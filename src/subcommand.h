// subcommand.h — option parsing shared by the subcommands of strata-data and strata-ckpt.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace strata {

// Parses the arguments of `program command` (those after the command name); the positional arguments
// go to `positional` (a vector of strings). Returns false when --help was given (after printing `usage`
// and the options). Error (config) when no positional argument is given.
bool parse_subcommand(const std::string& program, const std::string& command, const std::vector<std::string>& args,
                      const std::string& usage, boost::program_options::options_description& options,
                      const char* positional, boost::program_options::variables_map& vm);

}  // namespace strata
