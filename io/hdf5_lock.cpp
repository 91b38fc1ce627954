// hdf5_lock.cpp — see hdf5_lock.h.
#include "io/hdf5_lock.h"

namespace strata {

std::unique_lock<std::mutex> hdf5_lock() {
  static std::mutex mutex;
  return std::unique_lock<std::mutex>(mutex);
}

}  // namespace strata
