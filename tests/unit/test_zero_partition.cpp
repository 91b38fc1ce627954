// ZeRO partition: whole-row shards that tile every tensor exactly once, balanced to within one row block.
#include <gtest/gtest.h>

#include <vector>

#include "parallel/zero_partition.h"

namespace strata {
namespace {

TEST(ZeroPartition, ShardsTileEveryTensorExactlyOnceInWholeRows) {
  const std::vector<ShardTensor> tensors = {{0, 10, 4}, {40, 3, 1}, {43, 1, 7}, {50, 17, 5}};
  const std::size_t total = 50 + 17 * 5;
  for (int d : {1, 2, 3, 4, 8, 20}) {
    ZeroPartition zp(tensors, d);
    std::vector<int> owner(total, -1);
    std::size_t sum = 0;
    for (int r = 0; r < d; ++r) {
      std::size_t state = 0;
      for (const ShardPiece& p : zp.pieces(r)) {
        EXPECT_EQ(p.state_offset, state);  // packed in tensor order
        EXPECT_EQ(p.count % tensors[p.tensor].row_len, 0u);
        EXPECT_EQ(p.offset, tensors[p.tensor].offset + p.first_row * tensors[p.tensor].row_len);
        for (std::size_t i = p.offset; i < p.offset + p.count; ++i) {
          ASSERT_EQ(owner[i], -1) << "element " << i << " owned twice (d=" << d << ")";
          owner[i] = r;
        }
        state += p.count;
      }
      EXPECT_EQ(zp.owned(r), state);
      sum += state;
    }
    EXPECT_EQ(sum, total);
    for (std::size_t i = 0; i < total; ++i) EXPECT_NE(owner[i], -1) << "element " << i << " has no owner";
  }
}

TEST(ZeroPartition, RowsAreSplitCeilFirstAndTheLastRanksMayHoldFewer) {
  ZeroPartition zp({{0, 10, 3}}, 4);  // q = 3: rows 3, 3, 3, 1
  std::size_t first = 0;
  EXPECT_EQ(zp.rows_of(0, 0, &first), 3u);
  EXPECT_EQ(zp.rows_of(0, 3, &first), 1u);
  EXPECT_EQ(first, 9u);
  ZeroPartition small({{0, 2, 5}}, 4);  // fewer rows than ranks: ranks 2, 3 own nothing
  EXPECT_EQ(small.owned(0), 5u);
  EXPECT_EQ(small.owned(2), 0u);
  EXPECT_TRUE(small.pieces(3).empty());
}

}  // namespace
}  // namespace strata
