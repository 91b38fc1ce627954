// test_program_main.cpp — ProgramMain::run (src/program_main.h) without MPI: the body's exit code, and for
// what it throws one "<program>: error: ..." line on stderr and the exit code of SPEC section 3.
#include <gtest/gtest.h>

#include <boost/program_options/errors.hpp>
#include <new>
#include <string>

#include "kernels/error.h"
#include "src/program_main.h"

namespace strata {
namespace {

// Runs body through a ProgramMain named "prog"; returns the exit code and sets `err` to its stderr.
int run_captured(const std::function<int()>& body, std::string& err) {
  ProgramMain program("prog", "prog cmd");
  testing::internal::CaptureStderr();
  const int code = program.run(body);
  err = testing::internal::GetCapturedStderr();
  return code;
}

TEST(ProgramMain, ReturnsTheBodysCode) {
  std::string err;
  EXPECT_EQ(run_captured([] { return 0; }, err), 0);
  EXPECT_EQ(run_captured([] { return 75; }, err), 75);
  EXPECT_EQ(err, "");
}

TEST(ProgramMain, ErrorsBecomeOneLineAndTheirKindsCode) {
  std::string err;
  EXPECT_EQ(run_captured([]() -> int { STRATA_THROW(config, "key a.b: bad"); }, err), 2);
  EXPECT_EQ(err.rfind("prog: error: key a.b: bad [", 0), 0u) << err;
  EXPECT_EQ(run_captured([]() -> int { STRATA_THROW(data, "file f: truncated"); }, err), 3);
  EXPECT_EQ(err.rfind("prog: error: file f: truncated [", 0), 0u) << err;
  EXPECT_EQ(run_captured([]() -> int { STRATA_THROW(internal, "bug"); }, err), 1);
}

TEST(ProgramMain, UsageErrorsPointToHelp) {
  std::string err;
  EXPECT_EQ(run_captured([]() -> int { throw boost::program_options::unknown_option("--nope"); }, err), 2);
  EXPECT_NE(err.find("prog: error: "), std::string::npos) << err;
  EXPECT_NE(err.find("--nope"), std::string::npos) << err;
  EXPECT_NE(err.find("(see 'prog cmd --help')"), std::string::npos) << err;
}

TEST(ProgramMain, AnythingElseIsExitOne) {
  std::string err;
  EXPECT_EQ(run_captured([]() -> int { throw std::bad_alloc(); }, err), 1);
  EXPECT_EQ(err.rfind("prog: error: ", 0), 0u) << err;
  EXPECT_EQ(run_captured([]() -> int { throw 42; }, err), 1);
  EXPECT_EQ(err, "prog: error: unknown exception\n");
}

}  // namespace
}  // namespace strata
