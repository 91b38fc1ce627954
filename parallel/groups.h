// groups.h — ParallelGroups: the Topology of a job together with this rank's communicators, one
// per group of topology.h (tensor, data, pipeline, model, embedding). Built once at start-up by a
// backend (make_mpi_groups in mpi_communicator.h), then passed explicitly to the layers that use a
// group: there is no global parallel state. Frees its communicators when destroyed, which must
// happen before MPI_Finalize.
#pragma once

#include <memory>
#include <utility>

#include "parallel/communicator.h"
#include "parallel/topology.h"

namespace strata {

class ParallelGroups {
 public:
  // Group ranks equal the topology's coordinates: tensor().rank() == topology().tp_rank(),
  // data().rank() == dp_rank(), pipeline().rank() == pp_rank(); model().rank() == tp + T*pp;
  // embedding().rank() is 0 on the first stage, 1 on the last (0 when pipeline == 1).
  ParallelGroups(Topology topology, std::unique_ptr<Communicator> tensor, std::unique_ptr<Communicator> data,
                 std::unique_ptr<Communicator> pipeline, std::unique_ptr<Communicator> model,
                 std::unique_ptr<Communicator> embedding)
      : topology_(std::move(topology)), tensor_(std::move(tensor)), data_(std::move(data)),
        pipeline_(std::move(pipeline)), model_(std::move(model)), embedding_(std::move(embedding)) {}
  ParallelGroups(ParallelGroups&&) noexcept = default;
  ParallelGroups& operator=(ParallelGroups&&) noexcept = default;

  const Topology& topology() const { return topology_; }
  Communicator& tensor() const { return *tensor_; }      // same dp, pp: size T
  Communicator& data() const { return *data_; }          // same tp, pp: size D
  Communicator& pipeline() const { return *pipeline_; }  // same tp, dp: size P
  Communicator& model() const { return *model_; }        // same dp: size T*P, one model replica
  Communicator& group(Axis axis) const {
    return axis == Axis::tensor ? tensor() : axis == Axis::data ? data() : pipeline();
  }
  // First and last pipeline stage of this rank's pipeline group (size 2, or 1 when P == 1);
  // null on a middle stage, where has_embedding() is false.
  bool has_embedding() const { return embedding_ != nullptr; }
  Communicator* embedding() const { return embedding_.get(); }

  // Reset the byte counters of every communicator (e.g. at the start of a step).
  void reset_stats() const {
    for (Communicator* c : {tensor_.get(), data_.get(), pipeline_.get(), model_.get(), embedding_.get()})
      if (c) c->reset_stats();
  }

 private:
  Topology topology_;
  std::unique_ptr<Communicator> tensor_, data_, pipeline_, model_, embedding_;
};

}  // namespace strata
