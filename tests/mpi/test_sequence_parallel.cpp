// Sequence-parallel row collectives (parallel/sequence_parallel.h) on the tensor groups of every tensor
// size that divides the world (order tp,dp,pp; the group construction itself is tested over every order in
// test_collectives.cpp): gather_rows puts each rank's rows at its contiguous block of the full matrix,
// scatter_sum_rows leaves this rank's rows of the sum, both also in place; rows that do not split evenly
// are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "parallel/sequence_parallel.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata {
namespace {

constexpr std::size_t kWidth = 5;

// Calls f(tensor group) for every tensor size dividing the world.
template <class F>
void for_each_tensor_group(F&& f) {
  const int n = test::world_size();
  for (int tp = 1; tp <= n; ++tp) {
    if (n % tp != 0) continue;
    const Topology topology(n, test::world_rank(), tp, 1, "tp,dp,pp");
    SCOPED_TRACE(topology.describe());
    const ParallelGroups groups = make_mpi_groups(topology);
    f(groups.tensor());
  }
}

// Element (row, col) of the full matrix.
float value(std::size_t row, std::size_t col) { return static_cast<float>(row * 100 + col); }

TEST(SequenceParallelRows, GatherPutsEachRankAtItsContiguousRows) {
  for_each_tensor_group([](Communicator& tensor) {
    const RowSplit split = row_split(tensor, 3 * static_cast<std::size_t>(tensor.size()), kWidth);
    ASSERT_EQ(split.local_rows(), 3u);
    EXPECT_EQ(split.first_row(), 3u * tensor.rank());
    std::vector<float> local(split.local_floats());
    for (std::size_t r = 0; r < split.local_rows(); ++r)
      for (std::size_t c = 0; c < kWidth; ++c) local[r * kWidth + c] = value(split.first_row() + r, c);
    std::vector<float> full(split.full_floats(), -1.0f), expected(split.full_floats());
    for (std::size_t r = 0; r < split.rows; ++r)
      for (std::size_t c = 0; c < kWidth; ++c) expected[r * kWidth + c] = value(r, c);
    gather_rows(tensor, split, local.data(), full.data());
    EXPECT_EQ(full, expected);
    std::vector<float> in_place(split.full_floats(), -1.0f);
    std::copy(local.begin(), local.end(), in_place.begin() + static_cast<std::ptrdiff_t>(split.local_offset()));
    gather_rows(tensor, split, in_place.data() + split.local_offset(), in_place.data());
    EXPECT_EQ(in_place, expected);
  });
}

TEST(SequenceParallelRows, ScatterSumLeavesThisRanksRowsOfTheSum) {
  for_each_tensor_group([](Communicator& tensor) {
    const int n = tensor.size();
    const RowSplit split = row_split(tensor, 2 * static_cast<std::size_t>(n), kWidth);
    // Rank t contributes (t + 1) * value: the sum is n(n+1)/2 * value, exact in float.
    std::vector<float> full(split.full_floats());
    for (std::size_t r = 0; r < split.rows; ++r)
      for (std::size_t c = 0; c < kWidth; ++c) full[r * kWidth + c] = static_cast<float>(tensor.rank() + 1) * value(r, c);
    std::vector<float> expected(split.local_floats());
    for (std::size_t r = 0; r < split.local_rows(); ++r)
      for (std::size_t c = 0; c < kWidth; ++c)
        expected[r * kWidth + c] = static_cast<float>(n * (n + 1) / 2) * value(split.first_row() + r, c);
    std::vector<float> local(split.local_floats());
    scatter_sum_rows(tensor, split, full.data(), local.data());
    EXPECT_EQ(local, expected);
    float* mine = full.data() + split.local_offset();
    scatter_sum_rows(tensor, split, full.data(), mine);
    EXPECT_EQ(std::vector<float>(mine, mine + split.local_floats()), expected);
  });
}

TEST(SequenceParallelRows, RowsThatDoNotSplitEvenlyAreRefused) {
  for_each_tensor_group([](Communicator& tensor) {
    if (tensor.size() == 1) return;
    try {
      row_split(tensor, 2 * static_cast<std::size_t>(tensor.size()) + 1, kWidth);
      ADD_FAILURE() << "an uneven row split was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("parallel.tensor"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
}  // namespace strata
