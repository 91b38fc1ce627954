// test_nccl.cpp — the NCCL communicator (parallel/nccl_communicator.h) under mpiexec on 2 ranks that may
// share one GPU: every collective on device buffers against its closed form (inputs set from the rank),
// the host-buffer path through MPI, non-blocking requests, staged point-to-point; and data-parallel
// training on the CUDA backend with NCCL against the single-rank CUDA run. Without a GPU every test is
// skipped with the reason (ctest: skipped).
#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>
#include <vector>

#include "parallel/nccl_communicator.h"
#include "parallel/topology.h"
#include "tests/cuda/nccl_test_fixture.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

using test::NcclTest;

TEST_F(NcclTest, CollectivesMatchClosedForm) {
  const Topology topo(w.size, w.rank, 1, 1, "tp,dp,pp");  // one data group of all ranks
  const ParallelGroups groups = make_nccl_groups(topo, *be);
  Communicator& comm = groups.data();
  ASSERT_EQ(comm.backend_name(), "nccl");
  EXPECT_TRUE(comm.stream_ordered()) << "NCCL orders its collectives after the compute stream (no host synchronize)";
  const int n = comm.size(), r = comm.rank();
  const std::size_t count = 1000;

  // all_reduce sum and max: x_i = (r + 1) * (i + 1).
  std::vector<float> x(count);
  for (std::size_t i = 0; i < count; ++i) x[i] = float((r + 1) * (i + 1));
  auto d = up(x);
  comm.all_reduce(std::span<float>(d.data(), count));
  auto sum = down(d);
  auto dmax = up(x);
  Request req = comm.iall_reduce(std::span<float>(dmax.data(), count), ReduceOp::max);
  req.wait();
  auto mx = down(dmax);
  const float ranks_sum = float(n * (n + 1) / 2);
  for (std::size_t i = 0; i < count; ++i) {
    ASSERT_EQ(sum[i], ranks_sum * float(i + 1)) << i;
    ASSERT_EQ(mx[i], float(n * (i + 1))) << i;
  }

  // reduce_scatter: block r of the sum; all_gather back.
  const std::size_t block = 37;
  std::vector<float> full(block * n);
  for (std::size_t i = 0; i < full.size(); ++i) full[i] = float(r + i);
  auto dfull = up(full);
  DeviceBuffer<float> dblock(*be, block);
  comm.reduce_scatter(std::span<const float>(dfull.data(), full.size()), std::span<float>(dblock.data(), block));
  auto got = down(dblock);
  for (std::size_t i = 0; i < block; ++i) ASSERT_EQ(got[i], float(n * (r * block + i)) + float(n * (n - 1) / 2)) << i;
  DeviceBuffer<float> gathered(*be, block * n);
  comm.all_gather(std::span<const float>(dblock.data(), block), std::span<float>(gathered.data(), block * n));
  auto all = down(gathered);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], float(n * i) + float(n * (n - 1) / 2)) << i;

  // v-forms with unequal counts: rank q owns q + 3 elements.
  std::vector<std::size_t> counts(n);
  for (int q = 0; q < n; ++q) counts[q] = q + 3;
  const std::size_t total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
  std::vector<float> mine(counts[r], float(r + 1));
  auto dmine = up(mine);
  DeviceBuffer<float> dall(*be, total);
  comm.all_gatherv(std::span<const float>(dmine.data(), counts[r]), std::span<float>(dall.data(), total), counts);
  auto allv = down(dall);
  for (int q = 0, pos = 0; q < n; ++q)
    for (std::size_t i = 0; i < counts[q]; ++i, ++pos) ASSERT_EQ(allv[pos], float(q + 1));
  std::vector<float> ones(total, 1.0f);
  auto dones = up(ones);
  DeviceBuffer<float> dpart(*be, counts[r]);
  comm.reduce_scatterv(std::span<const float>(dones.data(), total), std::span<float>(dpart.data(), counts[r]), counts);
  for (float v : down(dpart)) ASSERT_EQ(v, float(n));

  // broadcast from the last rank; ring shift of device buffers (staged through the host).
  auto dbc = up(std::vector<float>(5, float(r)));
  comm.broadcast(std::span<float>(dbc.data(), 5), n - 1);
  for (float v : down(dbc)) ASSERT_EQ(v, float(n - 1));
  auto dsend = up(std::vector<float>(7, float(r)));
  DeviceBuffer<float> drecv(*be, 7);
  comm.send_recv(std::span<const float>(dsend.data(), 7), (r + 1) % n, std::span<float>(drecv.data(), 7),
                 (r + n - 1) % n);
  for (float v : down(drecv)) ASSERT_EQ(v, float((r + n - 1) % n));

  // Host buffers go through MPI.
  double host = r + 1;
  comm.all_reduce(std::span<double>(&host, 1));
  EXPECT_EQ(host, double(n * (n + 1) / 2));
  EXPECT_EQ(comm.stats()[CommOp::all_reduce].calls, 3u);
}

// A 2-layer model, 6 steps of 8 sequences in micro-batches of 2, ZeRO 0.
Config small_config() {
  Config c;
  c.model = {2, 32, 4, 16, 61};
  c.train.micro_batch = 2;
  c.train.global_batch = 8;
  c.train.steps = 6;
  c.train.eval_steps = 1;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.parallel.zero_stage = 0;
  return c;
}

// Data parallelism over NCCL on the CUDA backend against the single-rank CUDA run (same data and seed).
TEST_F(NcclTest, DataParallelTrainingMatchesSingleRank) {
  Config c = small_config();
  const test::TrainRun ref = test::train_steps(c, nullptr, be.get());
  const Topology topo(w.size, w.rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_nccl_groups(topo, *be);
  const test::TrainRun par = test::train_steps(c, &groups, be.get());
  test::expect_matches_single_rank(par, par.params, ref);
  test::expect_equal_to_data_replica0(groups, par.params);
}

// train.precision=bf16 on the CUDA backend (cuBLASLt bf16 GEMMs): the single-GPU run follows the CPU
// backend's bf16 emulation (same rounding, different fp32 accumulation order and attention/reduction
// kernels: held to the bf16 layout tolerance on losses), is not the CUDA fp32 run, and data parallelism
// (ZeRO 0) over NCCL matches it like a bf16 layout on CPU ranks (test::kBf16Equivalence).
TEST_F(NcclTest, Bf16TrainingFollowsCpuAndDataParallelMatchesSingleRank) {
  Config c = small_config();  // ZeRO 0: the data-parallel path the fp32 test above already checks on GPUs
  c.train.precision = "fp32";
  const test::TrainRun fp32 = test::train_steps(c, nullptr, be.get());
  c.train.precision = "bf16";
  const test::TrainRun ref = test::train_steps(c, nullptr, be.get());
  const test::TrainRun cpu = test::train_steps(c, nullptr);
  for (std::size_t i = 0; i < ref.loss.size(); ++i) {
    EXPECT_NEAR(ref.loss[i], cpu.loss[i], test::kBf16Equivalence.loss_rel * cpu.loss[i]) << "step " << i + 1;
    EXPECT_NEAR(ref.loss[i], fp32.loss[i], 2e-2 * fp32.loss[i]) << "step " << i + 1;
  }
  EXPECT_NE(ref.loss, fp32.loss) << "CUDA bf16 losses identical to fp32: the bf16 GEMMs were not used";
  const Topology topo(w.size, w.rank, 1, 1, "tp,dp,pp");
  const ParallelGroups groups = make_nccl_groups(topo, *be);
  const test::TrainRun par = test::train_steps(c, &groups, be.get());
  test::expect_matches_single_rank(par, par.params, ref, test::kBf16Equivalence);
  test::expect_equal_to_data_replica0(groups, par.params);
}

}  // namespace
}  // namespace strata
