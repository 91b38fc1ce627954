// version.h — Strata's version and build description (printed by every program's --version/start-up).
#pragma once

#include <string>

namespace strata {

std::string version_string();  // "strata 0.1.0 (cpu, cuda: off)"

}  // namespace strata
