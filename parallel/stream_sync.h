// stream_sync.h — the one rule for handing a communicator buffers that queued backend ops write: wait for
// those ops first unless the communicator orders itself after them on the device
// (Communicator::stream_ordered: NCCL). Over MPI the backend is synchronized (a no-op on the CPU backend);
// over NCCL nothing waits, so collectives still in flight keep overlapping the computation.
#pragma once

#include "kernels/backend.h"
#include "parallel/communicator.h"

namespace strata {

inline void sync_for(const Communicator& comm, Backend& backend) {
  if (!comm.stream_ordered()) backend.synchronize();
}

}  // namespace strata
