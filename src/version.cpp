// version.cpp — see version.h.
#include "src/version.h"

namespace strata {

std::string version_string() {
#if defined(STRATA_WITH_CUDA)
  return "strata 0.1.0 (backends: cpu; cuda toolchain linked, CUDA backend not yet implemented)";
#else
  return "strata 0.1.0 (backends: cpu)";
#endif
}

}  // namespace strata
