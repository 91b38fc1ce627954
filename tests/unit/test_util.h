// test_util.h — helpers shared by the unit tests: a per-test temporary directory and a check that a
// call throws strata::Error of a given kind whose message names given things.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "kernels/error.h"

namespace strata::test {

// A fresh directory named after the running test (and the process), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "strata_test_" + std::to_string(getpid());
    name.append("_").append(info->test_suite_name()).append("_").append(info->name());
    for (char& ch : name)
      if (ch == '/') ch = '_';  // parameterized test names contain '/'
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to `name` (creating parent directories) and returns the path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// "s<i>.h5" (built by append: GCC 12 warns falsely on "s" + std::to_string(i) + ".h5").
inline std::string shard_name(std::size_t i) {
  std::string name = "s";
  name.append(std::to_string(i)).append(".h5");
  return name;
}

// f() must throw strata::Error of `kind` whose message contains every string of `parts`.
template <typename F>
void expect_error(F&& f, ErrorKind kind, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an Error, none was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

}  // namespace strata::test
