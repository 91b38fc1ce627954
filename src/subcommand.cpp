// subcommand.cpp — see subcommand.h.
#include "src/subcommand.h"

#include <iostream>

#include "kernels/error.h"

namespace po = boost::program_options;

namespace strata {

int reject_subcommand(const std::string& program, const std::string& command, const char* usage) {
  std::cerr << program << (command.empty() ? ": error: missing command\n" : ": error: unknown command '" + command + "'\n")
            << usage;
  return 2;
}

bool parse_subcommand(const std::string& program, const std::string& command, const std::vector<std::string>& args,
                      const std::string& usage, po::options_description& options, const char* positional,
                      po::variables_map& vm) {
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
  STRATA_CHECK(vm.count(positional), config, "missing ", positional, " (see '", program, " ", command, " --help')");
  return true;
}

}  // namespace strata
