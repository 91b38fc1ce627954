// program_main.h — the one error path of the programs' main() (SPEC section 3): runs a program's body,
// turns what it throws into one line "<program>: [rank R: ]error: <message>" on stderr (the rank when
// MPI runs more than one) and the exit code — an Error its kind's (1 internal, 2 configuration, 3 data),
// a Boost.Program_options error 2 (usage), anything else 1 — and under MPI with more than one rank makes
// sure a rank that fails alone does not leave the others hanging (parallel/abort_lone_failure.h).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "parallel/abort_lone_failure.h"
#include "parallel/mpi_env.h"

namespace strata {

class ProgramMain {
 public:
  // program: the name errors start with; help_command: what usage errors point to ("strata-data build"
  // gives "(see 'strata-data build --help')").
  ProgramMain(std::string program, std::string help_command);

  // Starts MPI (MpiSession, one rank without a launcher) and the lone-failure guard: collective over
  // every rank of the launch. MPI finalizes when this object goes.
  const MpiSession& start_mpi(int* argc, char*** argv);

  // body()'s exit code, or, when it throws, the code of what it threw, after the message and, under MPI
  // with more than one rank, the wait for the other ranks (or the abort of the job when they are not
  // failing too).
  int run(const std::function<int()>& body);

 private:
  std::string program_, help_command_;
  std::optional<MpiSession> mpi_;
  std::optional<LoneFailureGuard> guard_;  // after mpi_: destroyed before MPI finalizes
};

}  // namespace strata
