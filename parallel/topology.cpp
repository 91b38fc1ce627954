// topology.cpp — see topology.h.
#include "parallel/topology.h"

#include <algorithm>
#include <sstream>

#include "kernels/error.h"

namespace strata {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "tp,dp,pp" (any permutation, spaces around names allowed) -> axes fastest first.
std::array<Axis, 3> parse_order(std::string_view text) {
  std::array<Axis, 3> order{};
  std::array<bool, 3> seen{};
  int n = 0;
  bool ok = true;
  std::string_view rest = text;
  while (ok) {
    const size_t comma = rest.find(',');
    const std::string_view name = trim(rest.substr(0, comma));
    Axis axis{};
    if (name == "tp") axis = Axis::tensor;
    else if (name == "dp") axis = Axis::data;
    else if (name == "pp") axis = Axis::pipeline;
    else ok = false;
    if (ok && (n == 3 || seen[static_cast<int>(axis)])) ok = false;
    if (ok) {
      seen[static_cast<int>(axis)] = true;
      order[n++] = axis;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  STRATA_CHECK(ok && n == 3, config, "parallel.order must list tp, dp and pp once each, fastest first, e.g. "
               "'tp,dp,pp' (the default); got '", text, "'");
  return order;
}

}  // namespace

const char* axis_name(Axis axis) {
  switch (axis) {
    case Axis::tensor: return "tp";
    case Axis::data: return "dp";
    case Axis::pipeline: return "pp";
  }
  return "?";
}

Topology::Topology(int world_size, int rank, int tensor, int pipeline, std::string_view order)
    : world_size_(world_size), rank_(rank) {
  STRATA_CHECK(world_size >= 1, internal, "world size must be >= 1, got ", world_size);
  STRATA_CHECK(rank >= 0 && rank < world_size, internal, "rank ", rank, " outside the world [0, ", world_size, ")");
  STRATA_CHECK(tensor >= 1, config, "parallel.tensor must be >= 1, got ", tensor);
  STRATA_CHECK(pipeline >= 1, config, "parallel.pipeline must be >= 1, got ", pipeline);
  // 64-bit product: a huge tensor * pipeline must not wrap around into a divisor.
  const long long model = static_cast<long long>(tensor) * pipeline;
  STRATA_CHECK(world_size % model == 0 && model <= world_size, config, "parallel.tensor * parallel.pipeline = ",
               tensor, " * ", pipeline, " = ", model, " must divide the world size ", world_size,
               " (data = world / (tensor * pipeline)); choose sizes whose product divides ", world_size,
               " or run on a multiple of ", model, " ranks");
  order_ = parse_order(order);
  size_ = {tensor, static_cast<int>(world_size / model), pipeline};
  int stride = 1;
  for (Axis axis : order_) {
    stride_[static_cast<int>(axis)] = stride;
    stride *= size(axis);
  }
  coord_ = coord_of(rank);
}

std::string Topology::order_string() const {
  return std::string(axis_name(order_[0])) + "," + axis_name(order_[1]) + "," + axis_name(order_[2]);
}

Coord Topology::coord_of(int world_rank) const {
  STRATA_CHECK(world_rank >= 0 && world_rank < world_size_, internal, "rank ", world_rank,
               " outside the world [0, ", world_size_, ")");
  auto along = [&](Axis axis) { return world_rank / stride(axis) % size(axis); };
  return Coord{along(Axis::tensor), along(Axis::data), along(Axis::pipeline)};
}

int Topology::rank_of(const Coord& c) const {
  for (Axis axis : {Axis::tensor, Axis::data, Axis::pipeline})
    STRATA_CHECK(c[axis] >= 0 && c[axis] < size(axis), internal, axis_name(axis), " coordinate ", c[axis],
                 " outside [0, ", size(axis), ")");
  return c.tp * stride(Axis::tensor) + c.dp * stride(Axis::data) + c.pp * stride(Axis::pipeline);
}

std::vector<int> Topology::group_of(Axis axis, int world_rank) const {
  const Coord c = coord_of(world_rank);
  const int base = world_rank - c[axis] * stride(axis);  // the member with coordinate 0
  std::vector<int> members(size(axis));
  for (int i = 0; i < size(axis); ++i) members[i] = base + i * stride(axis);
  return members;
}

std::vector<int> Topology::model_group_of(int world_rank) const {
  const Coord c = coord_of(world_rank);
  std::vector<int> members;
  members.reserve(static_cast<size_t>(tensor_size()) * pipeline_size());
  for (int pp = 0; pp < pipeline_size(); ++pp)
    for (int tp = 0; tp < tensor_size(); ++tp) members.push_back(rank_of(Coord{tp, c.dp, pp}));
  return members;
}

std::vector<int> Topology::embedding_group_of(int world_rank) const {
  const Coord c = coord_of(world_rank);
  const int last = pipeline_size() - 1;
  if (c.pp != 0 && c.pp != last) return {};
  const int first_rank = rank_of(Coord{c.tp, c.dp, 0});
  if (last == 0) return {first_rank};
  return {first_rank, rank_of(Coord{c.tp, c.dp, last})};
}

std::vector<std::vector<int>> Topology::all_groups(Axis axis) const {
  std::vector<std::vector<int>> groups;
  groups.reserve(world_size_ / size(axis));
  for (int r = 0; r < world_size_; ++r)
    if (coord_of(r)[axis] == 0) groups.push_back(group_of(axis, r));
  return groups;  // ascending first members: r increases
}

std::string Topology::describe() const {
  std::ostringstream os;
  os << "world " << world_size_ << " = tp " << tensor_size() << " x dp " << data_size() << " x pp "
     << pipeline_size() << ", order " << order_string() << "; rank " << rank_ << " = (tp " << coord_.tp
     << ", dp " << coord_.dp << ", pp " << coord_.pp << ")";
  return os.str();
}

}  // namespace strata
