// program_main.cpp — see program_main.h.
#include "src/program_main.h"

#include <boost/program_options/errors.hpp>

#include <cstdio>

#include "kernels/error.h"

namespace strata {

ProgramMain::ProgramMain(std::string program, std::string help_command)
    : program_(std::move(program)), help_command_(std::move(help_command)) {}

const MpiSession& ProgramMain::start_mpi(int* argc, char*** argv) {
  mpi_.emplace(argc, argv);
  guard_.emplace();
  return *mpi_;
}

int ProgramMain::run(const std::function<int()>& body) {
  int code = 1;
  std::string message;
  try {
    return body();
  } catch (const Error& e) {
    code = e.exit_code();
    message = e.what();
  } catch (const boost::program_options::error& e) {
    code = 2;
    message = std::string(e.what()) + " (see '" + help_command_ + " --help')";
  } catch (const std::exception& e) {  // std::bad_alloc, std::filesystem errors, ...
    message = e.what();
  } catch (...) {
    message = "unknown exception";
  }
  const bool ranks = mpi_ && mpi_->size() > 1;
  const std::string who = program_ + ": " + (ranks ? "rank " + std::to_string(mpi_->rank()) + ": " : "");
  std::fprintf(stderr, "%serror: %s\n", who.c_str(), message.c_str());
  std::fflush(stderr);
  if (ranks && guard_) guard_->leave_with_error(code, who);
  return code;
}

}  // namespace strata
