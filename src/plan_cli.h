// plan_cli.h — the command line shared by strata-plan and strata-train --dry-run: one CONFIG.ini,
// configuration overrides (--section.key=value), flags, and options given as --name=value or
// --name value; hardware options (plan_hardware.h) build the machine.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "src/plan_hardware.h"

namespace strata {

struct PlanCli {
  std::string config;
  std::vector<std::string> overrides;                        // "--section.key=value"
  std::set<std::string> flags;                               // given flags, without "--"
  std::vector<std::pair<std::string, std::string>> options;  // other --name value pairs, in order

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  // The last value of option `name`, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // The same as a non-negative integer; Error{config} naming the option otherwise.
  long long count(const std::string& name, long long fallback) const;
};

// `flag_names`: options that take no value. Error{config} for a second positional argument or an
// option without a value.
PlanCli parse_plan_cli(int argc, char** argv, const std::set<std::string>& flag_names);

// builtin_hardware(--hardware, default `fallback`) adjusted by every option that set_hardware_option
// knows; any option outside `known` and the hardware options is an error naming it.
Hardware hardware_from_cli(const PlanCli& cli, const std::string& fallback, const std::string& precision,
                           const std::set<std::string>& known);

}  // namespace strata
