// nccl_test_fixture.h — what the NCCL test files (strata_nccl_tests) share: NcclTest, a fixture that
// gives each test a CUDA backend on this rank's GPU (node-local rank modulo the visible devices: 2 ranks
// may share one GPU) and skips the test without a GPU, with host<->device copies of float vectors.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace strata::test {

struct World {
  int size = 1, rank = 0, local_rank = 0, local_size = 1;
};

inline World world() {
  World w;
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &w.local_rank);
  MPI_Comm_size(local, &w.local_size);
  MPI_Comm_free(&local);
  return w;
}

class NcclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every rank sees the same answer (same node, same driver), so all skip or none does.
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible: the NCCL tests need a GPU";
    w = world();
    // More ranks on this node than GPUs: NCCL refuses two ranks of one host on one device ("Duplicate GPU
    // detected"). A host id of its own per rank (unless the launcher set one) makes NCCL treat the ranks as
    // different hosts, connected through its socket transport, so `ctest` runs the suite on one GPU as
    // tests/gpu/device-check.sh does. Read when the first communicator is created, after this.
    if (w.local_size > cuda_device_count()) {
      const std::string host_id = "strata-nccl-test-rank-" + std::to_string(w.rank);
      setenv("NCCL_HOSTID", host_id.c_str(), /*overwrite=*/0);
    }
    be = make_cuda_backend(CudaOptions{w.local_rank % cuda_device_count(), false});
  }
  std::vector<float> down(const DeviceBuffer<float>& d) {
    std::vector<float> h(d.size());
    be->copy_to_host(h.data(), d.data(), d.bytes());
    return h;
  }
  DeviceBuffer<float> up(const std::vector<float>& h) {
    DeviceBuffer<float> d(*be, h.size());
    be->copy_to_device(d.data(), h.data(), d.bytes());
    return d;
  }
  World w;
  std::unique_ptr<Backend> be;
};

}  // namespace strata::test
