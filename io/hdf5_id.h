// hdf5_id.h — small HDF5 helpers shared by the io/ formats (token shards, checkpoints): an owning
// identifier, the " (HDF5: ...)" suffix of error messages, and the serial file-access property list.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

#include "io/shard.h"
#include "kernels/error.h"

namespace strata {

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
 public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Id() { reset(); }
  H5Id(H5Id&& other) noexcept : id_(other.release()), close_(other.close_) {}
  H5Id& operator=(H5Id&& other) noexcept {
    if (this != &other) {
      reset();
      close_ = other.close_;
      id_ = other.release();
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5's message, " (HDF5: ...)", or "" when HDF5 left none.
inline std::string hdf5_detail_suffix() {
  std::string d = hdf5_error_detail();
  return d.empty() ? std::string() : " (HDF5: " + d + ")";
}

// File access: serial (sec2) driver, without file locking where the library supports turning it off,
// since files on parallel filesystems without flock() would otherwise fail to open.
inline H5Id hdf5_file_access() {
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  STRATA_CHECK(fapl.valid(), internal, "H5Pcreate(H5P_FILE_ACCESS) failed", hdf5_detail_suffix());
#if H5_VERSION_GE(1, 10, 7)
  H5Pset_file_locking(fapl.get(), false, true);
#endif
  return fapl;
}

}  // namespace strata
