// hdf5_lock.h — the process-wide lock around HDF5 calls. The HDF5 library here is built without
// thread safety (H5_HAVE_THREADSAFE unset): two threads must never be inside HDF5 at once. Rule: a
// thread that calls HDF5 while another thread may (a PrefetchLoader's I/O thread is running) holds
// this lock for the whole sequence of calls, error-stack inspection included (hdf5_error_detail),
// because the error stack is global too. Never wait on a loader while holding it.
#pragma once

#include <mutex>

namespace strata {

// Locks the process-wide HDF5 mutex until the returned lock is destroyed.
[[nodiscard]] std::unique_lock<std::mutex> hdf5_lock();

}  // namespace strata
