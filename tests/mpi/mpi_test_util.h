// mpi_test_util.h — helpers of the MPI tests: the world, an environment variable set for a scope, every
// layout that fits the world, and a loop that builds (and frees) the groups of each layout inside the
// calling test.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "parallel/groups.h"
#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"

namespace strata::test {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

inline int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// Sets or unsets an environment variable for the scope, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

struct Layout {
  int tensor, pipeline;
  const char* order;
};

// Every (tensor, pipeline) whose product divides the world, in three rank orders.
inline std::vector<Layout> layouts() {
  std::vector<Layout> all;
  const int n = world_size();
  for (const char* order : {"tp,dp,pp", "dp,tp,pp", "pp,dp,tp"})
    for (int tp = 1; tp <= n; ++tp)
      for (int pp = 1; tp * pp <= n; ++pp)
        if (n % (tp * pp) == 0) all.push_back({tp, pp, order});
  return all;
}

// Calls f(groups) for every layout, with the layout in the failure trace. The groups are built
// before and freed after each call.
template <class F>
void for_each_layout(F&& f) {
  for (const Layout& l : layouts()) {
    const Topology topology(world_size(), world_rank(), l.tensor, l.pipeline, l.order);
    SCOPED_TRACE(topology.describe());
    ParallelGroups groups = make_mpi_groups(topology);
    f(groups);
  }
}

// One group of a layout: its communicator, its members (world ranks, from the topology) and a name.
struct GroupRef {
  Communicator& comm;
  std::vector<int> members;
  std::string name;
};

// Every group this rank belongs to: tensor, data, pipeline, model and (first/last stage) embedding.
inline std::vector<GroupRef> groups_of(const ParallelGroups& g) {
  const Topology& t = g.topology();
  std::vector<GroupRef> all = {{g.tensor(), t.tensor_group(), "tensor"},
                               {g.data(), t.data_group(), "data"},
                               {g.pipeline(), t.pipeline_group(), "pipeline"},
                               {g.model(), t.model_group(), "model"}};
  if (g.has_embedding()) all.push_back({*g.embedding(), t.embedding_group(), "embedding"});
  return all;
}

// Odd element counts, a single element and a count that is no multiple of any vector width.
inline constexpr int kCounts[] = {1, 7, 1001};

}  // namespace strata::test
