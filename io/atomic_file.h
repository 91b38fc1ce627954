// atomic_file.h — a file written under `<path>.tmp` and renamed onto `path` only when complete, so a
// reader (or a crash) never sees a half-written file under the final name.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>

namespace strata {

class AtomicFile {
 public:
  // Opens `<path>.tmp` for writing (Error internal when it cannot).
  explicit AtomicFile(std::string path);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t bytes);  // Error internal on a failed write (disk full?)
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Flushes, closes and renames the temporary file onto the final path (Error internal on failure).
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// The whole file at once.
void write_file_atomically(const std::string& path, std::string_view bytes);

// fsync of a file (or a directory: its entries) so that it survives a crash; Error internal naming it on
// failure.
void fsync_path(const std::string& path, bool directory = false);

// The whole content of a text or binary file. Error (data) naming `path` and `what` (e.g. "config")
// when it cannot be opened or read.
std::string read_whole_file(const std::string& path, std::string_view what = "input");

}  // namespace strata
