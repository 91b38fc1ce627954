// topology.h — the rank layout of a 3D-parallel job: which (tensor, data, pipeline) coordinates each
// world rank holds, and which world ranks form each group. Pure arithmetic, no MPI: the one object
// from which every communicator is built (parallel/groups.h), computed identically on every rank.
//
// Layout (Megatron-Core parallel_state convention). With T = parallel.tensor, P = parallel.pipeline
// and D = world / (T * P), a rank's coordinates are tp in [0,T), dp in [0,D), pp in [0,P).
// parallel.order lists the axes fastest first; with the default "tp,dp,pp"
//
//     rank = tp + T * (dp + D * pp)
//
// so tensor-parallel partners are neighbouring ranks (the same node, the fastest links), data-
// parallel replicas come next and pipeline stages are furthest apart (only point-to-point traffic).
// Every group lists its members in the order of its own coordinate, so a rank's index in its
// tensor group is its tp, in its data group its dp, and in its pipeline group its pp.
//
// Worked example: 16 ranks, T = 2, P = 2, D = 4, order tp,dp,pp (rank = tp + 2*dp + 8*pp):
//
//     rank:  0  1  2  3  4  5  6  7 |  8  9 10 11 12 13 14 15
//     tp:    0  1  0  1  0  1  0  1 |  0  1  0  1  0  1  0  1
//     dp:    0  0  1  1  2  2  3  3 |  0  0  1  1  2  2  3  3
//     pp:    0  0  0  0  0  0  0  0 |  1  1  1  1  1  1  1  1
//
//   8 tensor groups   (same dp, pp): [0,1] [2,3] [4,5] [6,7] [8,9] [10,11] [12,13] [14,15]
//   4 data groups     (same tp, pp): [0,2,4,6] [1,3,5,7] [8,10,12,14] [9,11,13,15]
//   8 pipeline groups (same tp, dp): [0,8] [1,9] [2,10] [3,11] [4,12] [5,13] [6,14] [7,15]
//   4 model groups    (same dp; one full model replica, ordered by (pp, tp)):
//                     [0,1,8,9] [2,3,10,11] [4,5,12,13] [6,7,14,15]
//   8 embedding groups (first and last stage of each pipeline group; here P = 2, so they equal
//                     the pipeline groups): [0,8] [1,9] ... [7,15]
//
// With 32 ranks and P = 4 (T = 2, D = 4) the pipeline group of rank 0 is [0,8,16,24] and its
// embedding group [0,24]; ranks on middle stages belong to no embedding group. With P = 1 each rank's embedding group
// is just itself (first and last stage coincide), so tied-embedding code needs no special case.
//
// The same 16 ranks with order "dp,tp,pp" (rank = dp + 4*tp + 8*pp) instead give tensor groups
// [0,4] [1,5] ... and data groups [0,1,2,3] [4,5,6,7] ...: data-parallel replicas become neighbours.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

// The three parallel dimensions.
enum class Axis { tensor = 0, data = 1, pipeline = 2 };

const char* axis_name(Axis axis);  // "tp", "dp", "pp"

// A rank's position in the 3D grid.
struct Coord {
  int tp = 0, dp = 0, pp = 0;
  int operator[](Axis axis) const { return axis == Axis::tensor ? tp : axis == Axis::data ? dp : pp; }
  bool operator==(const Coord&) const = default;
};

// Immutable layout of world_size ranks seen from one of them. Copyable, cheap.
class Topology {
 public:
  // Throws Error(config) naming parallel.tensor, parallel.pipeline or parallel.order when
  // tensor or pipeline is < 1, tensor * pipeline does not divide world_size, or order is not a
  // permutation of tp, dp, pp (comma-separated, spaces allowed). Throws Error(internal) when
  // world_size < 1 or rank is outside [0, world_size).
  Topology(int world_size, int rank, int tensor, int pipeline, std::string_view order = "tp,dp,pp");

  int world_size() const { return world_size_; }
  int rank() const { return rank_; }  // this rank in the world

  int tensor_size() const { return size_[0]; }
  int data_size() const { return size_[1]; }
  int pipeline_size() const { return size_[2]; }
  int size(Axis axis) const { return size_[static_cast<int>(axis)]; }

  // Axes fastest first, and as the canonical string ("tp,dp,pp").
  const std::array<Axis, 3>& order() const { return order_; }
  std::string order_string() const;

  // Distance in world ranks between neighbours along an axis (1 for the fastest axis).
  int stride(Axis axis) const { return stride_[static_cast<int>(axis)]; }

  // This rank's coordinates.
  const Coord& coord() const { return coord_; }
  int tp_rank() const { return coord_.tp; }
  int dp_rank() const { return coord_.dp; }
  int pp_rank() const { return coord_.pp; }
  bool is_first_stage() const { return coord_.pp == 0; }
  bool is_last_stage() const { return coord_.pp == pipeline_size() - 1; }

  // Any rank's coordinates and back (Error(internal) when out of range).
  Coord coord_of(int world_rank) const;
  int rank_of(const Coord& c) const;

  // Members (world ranks) of this rank's groups, ordered by the coordinate along the group's axis.
  std::vector<int> tensor_group() const { return group(Axis::tensor); }
  std::vector<int> data_group() const { return group(Axis::data); }
  std::vector<int> pipeline_group() const { return group(Axis::pipeline); }
  std::vector<int> group(Axis axis) const { return group_of(axis, rank_); }
  // Same dp: the T*P ranks holding one model replica, ordered by (pp, tp) — for global norms.
  std::vector<int> model_group() const { return model_group_of(rank_); }
  // First and last pipeline stage with this rank's tp, dp; empty for a middle stage; {rank} when
  // pipeline_size() == 1.
  std::vector<int> embedding_group() const { return embedding_group_of(rank_); }

  // The same for any world rank.
  std::vector<int> group_of(Axis axis, int world_rank) const;
  std::vector<int> model_group_of(int world_rank) const;
  std::vector<int> embedding_group_of(int world_rank) const;

  // Every group along an axis, sorted by first member (world_size / size(axis) groups).
  std::vector<std::vector<int>> all_groups(Axis axis) const;

  // One line for logs: "world 16 = tp 2 x dp 4 x pp 2, order tp,dp,pp; rank 5 = (tp 1, dp 2, pp 0)".
  std::string describe() const;

 private:
  int world_size_, rank_;
  std::array<int, 3> size_{};    // indexed by Axis
  std::array<int, 3> stride_{};  // indexed by Axis
  std::array<Axis, 3> order_{};  // fastest first
  Coord coord_;
};

}  // namespace strata
