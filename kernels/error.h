// error.h — the one error type of Strata: an exception carrying a category (which decides the exit
// code in main, SPEC section 3), the file:line that raised it, and a message saying what was expected
// and what was found. Library code throws; only main() turns an Error into an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace strata {

enum class ErrorKind {
  internal = 1,  // exit 1: a bug, a failed system/MPI/BLAS call, anything unexpected
  config = 2,    // exit 2: usage or configuration error
  data = 3,      // exit 3: bad input data or a bad checkpoint
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, const char* file, int line)
      : std::runtime_error(message + " [" + file + ":" + std::to_string(line) + "]"), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace strata

// STRATA_THROW(kind, parts...): throw an Error of `kind` whose message is the streamed parts.
#define STRATA_THROW(kind, ...) \
  throw ::strata::Error(::strata::ErrorKind::kind, ::strata::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

// STRATA_CHECK(cond, kind, parts...): throw when cond is false.
#define STRATA_CHECK(cond, kind, ...) \
  do {                                \
    if (!(cond)) STRATA_THROW(kind, __VA_ARGS__); \
  } while (0)
