// ZeRO-3 parameter residency (parallel/zero3_params.h) on the world as the data group: a gathered range
// is the full tensors (closed form: element i of the flat buffer is 0.5 i + 1), whatever the rows per
// rank (tensors with fewer rows than ranks included); the named next range is prefetched (gathered
// before it is asked for, not again when it is); a released range stays resident until its buffer is
// reused; invalidate() makes the next acquire gather the changed shards; misuse throws. Gradients
// (parallel/zero3_grads.h): every backward's range buffers are reduce-scattered and add up in the
// shard (closed form: rank r writes (r + 1) * (m + 1) * element in micro-batch m).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "kernels/error.h"
#include "parallel/zero3_grads.h"
#include "parallel/zero3_params.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata {
namespace {

float value(std::size_t i) { return 0.5f * static_cast<float>(i) + 1.0f; }

TEST(Zero3Params, GathersPrefetchesKeepsAndInvalidates) {
  const ParallelGroups groups = make_mpi_groups(Topology(test::world_size(), test::world_rank(), 1, 1, "tp,dp,pp"));
  Communicator& data = groups.data();
  // (rows x row_len): 1 row (one owner), 7 x 1, 5 x 4, 3 x 2.
  const std::vector<ShardTensor> tensors = {{0, 1, 3}, {3, 7, 1}, {10, 5, 4}, {30, 3, 2}};
  const std::size_t total = 36;
  const ZeroPartition partition(tensors, data.size());
  auto be = make_cpu_backend();
  // Range 0: tensor 0 (pool 0); range 1: tensors 1-2, range 2: tensor 3 (pool 1); range 3 is empty (as
  // the embedding range of a stage without the embedding).
  Zero3Params z(*be, data, partition, {{0, 3, 0}, {3, 27, 1}, {30, 6, 1}, {0, 0, 1}});
  EXPECT_EQ(z.shard_floats(), partition.owned(data.rank()));
  EXPECT_EQ(z.buffer_floats(), 3u + 2 * 27u);  // pool 0: one buffer of 3; pool 1: two of its largest range
  std::vector<float> full(total);
  for (std::size_t i = 0; i < total; ++i) full[i] = value(i);
  z.load_shard(full);

  auto expect_range = [&](const float* got, std::size_t offset, std::size_t count, float scale) {
    for (std::size_t k = 0; k < count; ++k)
      ASSERT_EQ(got[k], scale * value(offset + k)) << "element " << offset + k << " on rank " << data.rank();
  };
  expect_range(z.acquire(1, 2), 3, 27, 1.0f);
  EXPECT_EQ(z.gathers(), 2u) << "range 2 is prefetched while range 1 is in use";
  expect_range(z.acquire(0, -1), 0, 3, 1.0f);  // another pool: held at the same time
  EXPECT_EQ(z.gathers(), 3u);
  z.release(1);
  expect_range(z.acquire(2, -1), 30, 6, 1.0f);
  EXPECT_EQ(z.gathers(), 3u) << "a prefetched range is not gathered again";
  z.release(2);
  z.release(0);
  expect_range(z.acquire(1, -1), 3, 27, 1.0f);
  EXPECT_EQ(z.gathers(), 3u) << "a released range stays resident until its buffer is reused";
  z.release(1);

  // The optimizer changes the shards: gathered copies are stale.
  for (std::size_t i = 0; i < z.shard_floats(); ++i) z.shard()[i] *= 2.0f;
  z.invalidate();
  expect_range(z.acquire(2, 1), 30, 6, 2.0f);
  EXPECT_EQ(z.gathers(), 5u);
  expect_range(z.acquire(1, -1), 3, 27, 2.0f);
  EXPECT_EQ(z.gathers(), 5u);

  // An empty range cannot be acquired, a held range not invalidated, a range not held not released.
  EXPECT_THROW(z.acquire(3, -1), Error);
  EXPECT_THROW(z.invalidate(), Error);
  z.release(1);
  z.release(2);
  EXPECT_THROW(z.release(2), Error);
  z.invalidate();
}

TEST(Zero3Params, AllBuffersOfAPoolInUseIsAnError) {
  const ParallelGroups groups = make_mpi_groups(Topology(test::world_size(), test::world_rank(), 1, 1, "tp,dp,pp"));
  const std::vector<ShardTensor> tensors = {{0, 4, 2}, {8, 4, 2}, {16, 4, 2}};
  const ZeroPartition partition(tensors, groups.data().size());
  auto be = make_cpu_backend();
  Zero3Params z(*be, groups.data(), partition, {{0, 8, 0}, {8, 8, 0}, {16, 8, 0}});
  std::vector<float> full(24, 1.0f);
  z.load_shard(full);
  z.acquire(0, -1);
  z.acquire(1, -1);
  EXPECT_THROW(z.acquire(2, -1), Error);  // same outcome on every rank: no collective was started
  z.release(0);
  z.release(1);
  EXPECT_EQ(z.acquire(2, -1)[7], 1.0f);
  z.release(2);
}

TEST(Zero3Grads, EveryBackwardIsReducedIntoTheShard) {
  const ParallelGroups groups = make_mpi_groups(Topology(test::world_size(), test::world_rank(), 1, 1, "tp,dp,pp"));
  Communicator& data = groups.data();
  const std::vector<ShardTensor> tensors = {{0, 1, 3}, {3, 7, 1}, {10, 5, 4}, {30, 3, 2}};
  const ZeroPartition partition(tensors, data.size());
  auto be = make_cpu_backend();
  std::vector<float> shard(std::max<std::size_t>(partition.owned(data.rank()), 1), 0.0f);
  Zero3Grads z(*be, data, partition, {{0, 3, 0}, {3, 27, 1}, {30, 6, 1}, {0, 0, 1}}, shard.data());
  const float d = static_cast<float>(data.size()), r = static_cast<float>(data.rank());
  const int micro_batches = 3;
  for (int m = 0; m < micro_batches; ++m) {
    // The order of a backward: the head (range 2) with the embedding (range 0) held until the end.
    for (int range : {2, 0, 1}) {
      const std::size_t offset = range == 0 ? 0 : range == 1 ? 3 : 30, count = range == 0 ? 3 : range == 1 ? 27 : 6;
      float* g = z.acquire(range);
      for (std::size_t k = 0; k < count; ++k) {
        ASSERT_EQ(g[k], 0.0f) << "gradient buffers start zeroed";
        g[k] = (r + 1.0f) * static_cast<float>(m + 1) * static_cast<float>(offset + k);
      }
      if (range != 0) z.release(range);
    }
    z.release(0);
  }
  z.finish();
  EXPECT_GE(z.overlapped_fraction(), 0.0);
  EXPECT_LE(z.overlapped_fraction(), 1.0);
  // Sum over ranks of (r + 1) is D(D + 1)/2, over micro-batches of (m + 1) is M(M + 1)/2.
  const float scale = d * (d + 1.0f) / 2.0f * static_cast<float>(micro_batches * (micro_batches + 1) / 2);
  for (const ShardPiece& p : partition.pieces(data.rank()))
    for (std::size_t k = 0; k < p.count; ++k)
      ASSERT_EQ(shard[p.state_offset + k], scale * static_cast<float>(p.offset + k)) << "element " << p.offset + k;
  // Sent buffers as for the gathers (3, and 2 x 27), each with a receive buffer of this rank's rows of
  // its pool's largest range.
  const int me = data.rank();
  const std::size_t mine0 = partition.state_before(me, 1), mine1 = partition.state_before(me, 3) - mine0,
                    mine2 = partition.owned(me) - partition.state_before(me, 3);
  EXPECT_EQ(z.buffer_floats(), 3u + mine0 + 2 * (27u + std::max(mine1, mine2)));
  EXPECT_THROW(z.release(1), Error);
}

}  // namespace
}  // namespace strata
