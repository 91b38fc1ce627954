// atomic_file.cpp — see atomic_file.h.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "kernels/error.h"

namespace strata {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  STRATA_CHECK(out_.is_open(), internal, tmp_, ": cannot open for writing");
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  STRATA_CHECK(out_.good(), internal, tmp_, ": write failed (disk full?)");
}

void AtomicFile::commit() {
  out_.flush();
  STRATA_CHECK(out_.good(), internal, tmp_, ": write failed (disk full?)");
  out_.close();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  STRATA_CHECK(!ec, internal, "cannot rename ", tmp_, " to ", path_, ": ", ec.message());
  committed_ = true;
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  STRATA_CHECK(fd >= 0, internal, "cannot open ", path, " to fsync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const std::string err = rc != 0 ? std::strerror(errno) : "";
  ::close(fd);
  STRATA_CHECK(rc == 0, internal, "fsync of ", path, " failed: ", err);
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

std::string read_whole_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  STRATA_CHECK(in.is_open(), data, path, ": cannot open the ", what, " file for reading");
  std::ostringstream all;
  all << in.rdbuf();
  STRATA_CHECK(!in.bad(), data, path, ": read error");
  return all.str();
}

}  // namespace strata
