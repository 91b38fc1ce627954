// data_command_parse.cpp — option parsing shared by the strata-data subcommands (see data_commands.h).
#include <iostream>

#include "kernels/error.h"
#include "src/data_commands.h"

namespace po = boost::program_options;

namespace strata {

bool parse_data_command(const std::string& command, const std::vector<std::string>& args, const std::string& usage,
                        po::options_description& options, const char* positional, po::variables_map& vm) {
  options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(options).add_options()(positional, po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add(positional, -1);
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n" << options;
    return false;
  }
  po::notify(vm);
  STRATA_CHECK(vm.count(positional), config, "missing ", positional, " (see 'strata-data ", command, " --help')");
  return true;
}

}  // namespace strata
