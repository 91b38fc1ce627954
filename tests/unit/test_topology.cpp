// test_topology.cpp — the rank layout of parallel/topology.h without MPI: the worked 16-rank example
// of the header, coordinate round trips and group partitions for many world sizes (1 to 1024), every
// (tensor, pipeline) that fits and every rank order, and the configuration errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "parallel/topology.h"

namespace strata {
namespace {

using Groups = std::vector<std::vector<int>>;

// The example documented in topology.h: 16 ranks, tp 2, pp 2, dp 4, order tp,dp,pp.
TEST(Topology, WorkedExampleOf16Ranks) {
  const Topology t(16, 5, 2, 2);
  EXPECT_EQ(t.data_size(), 4);
  EXPECT_EQ(t.order_string(), "tp,dp,pp");
  EXPECT_EQ(t.coord(), (Coord{1, 2, 0}));
  EXPECT_EQ(t.all_groups(Axis::tensor), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {12, 13}, {14, 15}}));
  EXPECT_EQ(t.all_groups(Axis::data), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}, {8, 10, 12, 14}, {9, 11, 13, 15}}));
  EXPECT_EQ(t.all_groups(Axis::pipeline),
            (Groups{{0, 8}, {1, 9}, {2, 10}, {3, 11}, {4, 12}, {5, 13}, {6, 14}, {7, 15}}));
  EXPECT_EQ(t.tensor_group(), (std::vector<int>{4, 5}));
  EXPECT_EQ(t.data_group(), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(t.pipeline_group(), (std::vector<int>{5, 13}));
  EXPECT_EQ(t.model_group(), (std::vector<int>{4, 5, 12, 13}));
  EXPECT_EQ(t.model_group_of(0), (std::vector<int>{0, 1, 8, 9}));
  EXPECT_EQ(t.embedding_group(), (std::vector<int>{5, 13}));
  EXPECT_EQ(t.describe(), "world 16 = tp 2 x dp 4 x pp 2, order tp,dp,pp; rank 5 = (tp 1, dp 2, pp 0)");

  // The same ranks with data-parallel replicas as neighbours.
  const Topology d(16, 5, 2, 2, "dp,tp,pp");
  EXPECT_EQ(d.coord(), (Coord{1, 1, 0}));
  EXPECT_EQ(d.tensor_group(), (std::vector<int>{1, 5}));
  EXPECT_EQ(d.data_group(), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(d.pipeline_group(), (std::vector<int>{5, 13}));
}

// 32 ranks, pp 4: middle stages have no embedding group; the first and last stage share one.
TEST(Topology, EmbeddingGroupOnlyOnFirstAndLastStage) {
  const Topology t(32, 0, 2, 4);
  EXPECT_EQ(t.pipeline_group(), (std::vector<int>{0, 8, 16, 24}));
  EXPECT_EQ(t.embedding_group(), (std::vector<int>{0, 24}));
  EXPECT_EQ(t.embedding_group_of(24), (std::vector<int>{0, 24}));
  EXPECT_TRUE(t.embedding_group_of(8).empty());
  EXPECT_TRUE(t.embedding_group_of(17).empty());
  EXPECT_EQ(t.embedding_group_of(31), (std::vector<int>{7, 31}));
  EXPECT_TRUE(Topology(32, 24, 2, 4).is_last_stage());
  EXPECT_FALSE(Topology(32, 16, 2, 4).is_first_stage());
  // One stage: the embedding group is the rank itself.
  EXPECT_EQ(Topology(8, 3, 2, 1).embedding_group(), (std::vector<int>{3}));
}

TEST(Topology, SingleRank) {
  const Topology t(1, 0, 1, 1);
  EXPECT_EQ(t.data_size(), 1);
  for (Axis a : {Axis::tensor, Axis::data, Axis::pipeline}) EXPECT_EQ(t.group(a), (std::vector<int>{0}));
  EXPECT_EQ(t.model_group(), (std::vector<int>{0}));
  EXPECT_EQ(t.embedding_group(), (std::vector<int>{0}));
  EXPECT_TRUE(t.is_first_stage() && t.is_last_stage());
}

// For every layout of a world: coordinates round-trip; each axis's groups partition the world into
// world/size groups of `size` ranks, ordered by the coordinate along the axis and sharing the other
// two; the fastest axis in `order` has stride 1; model and embedding groups as documented.
void check_world(int world) {
  static const char* orders[] = {"tp,dp,pp", "tp,pp,dp", "dp,tp,pp", "dp,pp,tp", "pp,tp,dp", "pp,dp,tp"};
  const bool small = world <= 64;  // per-rank group checks are O(world^2): only for small worlds
  for (int tp = 1; tp <= world; ++tp)
    for (int pp = 1; tp * pp <= world; ++pp) {
      if (world % (tp * pp) != 0) continue;
      for (const char* order : orders) {
        SCOPED_TRACE(std::to_string(world) + " ranks, tp " + std::to_string(tp) + ", pp " + std::to_string(pp) +
                     ", order " + order);
        const Topology t(world, world - 1, tp, pp, order);
        ASSERT_EQ(t.tensor_size() * t.data_size() * t.pipeline_size(), world);
        EXPECT_EQ(t.order_string(), order);
        EXPECT_EQ(t.stride(t.order()[0]), 1);
        EXPECT_EQ(t.stride(t.order()[1]), t.size(t.order()[0]));
        for (int r = 0; r < world; ++r) ASSERT_EQ(t.rank_of(t.coord_of(r)), r);
        for (Axis axis : {Axis::tensor, Axis::data, Axis::pipeline}) {
          const Groups groups = t.all_groups(axis);
          ASSERT_EQ(static_cast<int>(groups.size()), world / t.size(axis));
          std::vector<int> seen(world, 0);
          for (const std::vector<int>& members : groups) {
            ASSERT_EQ(static_cast<int>(members.size()), t.size(axis));
            const Coord first = t.coord_of(members[0]);
            for (int i = 0; i < t.size(axis); ++i) {
              const Coord c = t.coord_of(members[i]);
              ASSERT_EQ(c[axis], i);  // group rank == coordinate
              for (Axis other : {Axis::tensor, Axis::data, Axis::pipeline}) {
                if (other != axis) {
                  ASSERT_EQ(c[other], first[other]);
                }
              }
              ++seen[members[i]];
            }
          }
          ASSERT_TRUE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
        }
        if (!small) continue;
        for (int r = 0; r < world; ++r) {
          const Topology me(world, r, tp, pp, order);
          const Coord c = me.coord();
          for (Axis axis : {Axis::tensor, Axis::data, Axis::pipeline}) {
            const std::vector<int> g = me.group(axis);
            ASSERT_EQ(g[c[axis]], r);
            ASSERT_EQ(g, t.group_of(axis, r));
          }
          const std::vector<int> model = me.model_group();
          ASSERT_EQ(static_cast<int>(model.size()), tp * pp);
          ASSERT_EQ(model[c.tp + tp * c.pp], r);
          for (int m : model) ASSERT_EQ(t.coord_of(m).dp, c.dp);
          const std::vector<int> emb = me.embedding_group();
          if (c.pp != 0 && c.pp != pp - 1) {
            ASSERT_TRUE(emb.empty());
          } else {
            ASSERT_EQ(emb.size(), pp == 1 ? 1u : 2u);
            ASSERT_EQ(emb.front(), t.rank_of({c.tp, c.dp, 0}));
            ASSERT_EQ(emb.back(), t.rank_of({c.tp, c.dp, pp - 1}));
          }
        }
      }
    }
}

TEST(Topology, LayoutsOfManyWorldSizes) {
  for (int world : {1, 2, 3, 4, 6, 8, 12, 16, 24, 64, 1024}) check_world(world);
}

// The 1024-rank layout of configs/gpt3-175b.ini style: tp 8 within a node, pp 16, dp 8.
TEST(Topology, Layout1024) {
  const Topology t(1024, 1023, 8, 16);
  EXPECT_EQ(t.data_size(), 8);
  EXPECT_EQ(t.coord(), (Coord{7, 7, 15}));
  EXPECT_EQ(t.tensor_group().front(), 1016);
  EXPECT_EQ(t.data_group(), (std::vector<int>{967, 975, 983, 991, 999, 1007, 1015, 1023}));
  EXPECT_EQ(t.pipeline_group().front(), 63);
  EXPECT_EQ(t.pipeline_group()[1], 127);
  EXPECT_EQ(t.embedding_group(), (std::vector<int>{63, 1023}));
  EXPECT_EQ(t.rank_of({3, 2, 1}), 3 + 8 * 2 + 64 * 1);
}

void expect_config_error(int world, int tensor, int pipeline, const char* order, const char* key) {
  try {
    Topology(world, 0, tensor, pipeline, order);
    ADD_FAILURE() << "expected a config error naming " << key;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("topology.cpp:"), std::string::npos) << e.what();
  }
}

TEST(Topology, ImpossibleLayoutsAreConfigErrors) {
  expect_config_error(8, 0, 1, "tp,dp,pp", "parallel.tensor");
  expect_config_error(8, 1, -2, "tp,dp,pp", "parallel.pipeline");
  expect_config_error(8, 3, 1, "tp,dp,pp", "parallel.tensor * parallel.pipeline");
  expect_config_error(8, 2, 3, "tp,dp,pp", "must divide the world size 8");
  expect_config_error(8, 16, 1, "tp,dp,pp", "parallel.tensor");
  expect_config_error(4, 65536, 65536, "tp,dp,pp", "parallel.pipeline");  // product overflows int
  expect_config_error(8, 1, 1, "tp,dp", "parallel.order");
  expect_config_error(8, 1, 1, "tp,tp,pp", "parallel.order");
  expect_config_error(8, 1, 1, "tp,dp,pp,cp", "parallel.order");
  expect_config_error(8, 1, 1, "tensor,data,pipeline", "parallel.order");
  expect_config_error(8, 1, 1, "", "parallel.order");
  EXPECT_THROW(Topology(0, 0, 1, 1), Error);
  EXPECT_THROW(Topology(4, 4, 1, 1), Error);
  EXPECT_THROW(Topology(4, 0, 1, 1).coord_of(4), Error);
  EXPECT_THROW(Topology(4, 0, 2, 1).rank_of({2, 0, 0}), Error);
}

TEST(Topology, OrderAllowsSpaces) {
  const Topology t(8, 1, 2, 2, " pp , dp,tp ");
  EXPECT_EQ(t.order_string(), "pp,dp,tp");
  EXPECT_EQ(t.coord(), (Coord{0, 0, 1}));  // rank = pp + 2*dp + 4*tp
  EXPECT_EQ(t.tensor_group(), (std::vector<int>{1, 5}));
}

}  // namespace
}  // namespace strata
