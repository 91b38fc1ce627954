// plan_cli.cpp — see plan_cli.h.
#include "src/plan_cli.h"

#include "kernels/error.h"

namespace strata {

std::string PlanCli::get(const std::string& name, const std::string& fallback) const {
  std::string v = fallback;
  for (const auto& [k, value] : options)
    if (k == name) v = value;
  return v;
}

long long PlanCli::count(const std::string& name, long long fallback) const {
  const std::string v = get(name);
  if (v.empty()) return fallback;
  std::size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  STRATA_CHECK(used == v.size() && n >= 0, config, "--", name, ": expected a non-negative integer, found '", v, "'");
  return n;
}

PlanCli parse_plan_cli(int argc, char** argv, const std::set<std::string>& flag_names) {
  PlanCli cli;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "-h") {
      cli.flags.insert("help");
    } else if (s.rfind("--", 0) == 0) {
      const auto eq = s.find('=');
      const std::string name = s.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq == std::string::npos && flag_names.count(name) > 0) {
        cli.flags.insert(name);
        continue;
      }
      std::string value;
      if (eq != std::string::npos) value = s.substr(eq + 1);
      else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) value = argv[++i];
      else STRATA_THROW(config, "option --", name, " needs a value (see --help)");
      if (name.find('.') != std::string::npos) cli.overrides.push_back("--" + name + "=" + value);
      else cli.options.emplace_back(name, value);
    } else if (cli.config.empty()) {
      cli.config = s;
    } else {
      STRATA_THROW(config, "unexpected argument '", s, "': give one CONFIG.ini (see --help)");
    }
  }
  return cli;
}

Hardware hardware_from_cli(const PlanCli& cli, const std::string& fallback, const std::string& precision,
                           const std::set<std::string>& known) {
  Hardware hw = builtin_hardware(cli.get("hardware", fallback));
  for (const auto& [name, value] : cli.options) {
    if (name == "hardware" || known.count(name) > 0) continue;
    STRATA_CHECK(set_hardware_option(hw, name, value, precision), config, "unknown option --", name, " (see --help)");
  }
  return hw;
}

}  // namespace strata
