// groups.h — ParallelGroups: the Topology of a job together with this rank's communicators, one
// per group of topology.h (tensor, data, pipeline, model, embedding). Built once at start-up by a
// backend (make_mpi_groups in mpi_communicator.h), then passed explicitly to the layers that use a
// group: there is no global parallel state. Frees its communicators when destroyed, which must
// happen before MPI_Finalize.
//
// It also holds the file-I/O communicator: an MPI duplicate of the whole job's communicator, used only
// for collective file access (parallel HDF5 checkpoints, possibly on a background thread, which MPI
// allows on its own communicator under MPI_THREAD_MULTIPLE). MPI_COMM_NULL when none was given.
#pragma once

#include <mpi.h>

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
                 std::unique_ptr<Communicator> embedding, MPI_Comm io = MPI_COMM_NULL)
      : topology_(std::move(topology)), tensor_(std::move(tensor)), data_(std::move(data)),
        pipeline_(std::move(pipeline)), model_(std::move(model)), embedding_(std::move(embedding)), io_(io) {}
  ParallelGroups(ParallelGroups&& o) noexcept
      : topology_(std::move(o.topology_)), tensor_(std::move(o.tensor_)), data_(std::move(o.data_)),
        pipeline_(std::move(o.pipeline_)), model_(std::move(o.model_)), embedding_(std::move(o.embedding_)),
        io_(std::exchange(o.io_, MPI_COMM_NULL)) {}
  ParallelGroups& operator=(ParallelGroups&& o) noexcept {
    if (this != &o) {
      free_io();
      topology_ = std::move(o.topology_);
      tensor_ = std::move(o.tensor_), data_ = std::move(o.data_), pipeline_ = std::move(o.pipeline_);
      model_ = std::move(o.model_), embedding_ = std::move(o.embedding_);
      io_ = std::exchange(o.io_, MPI_COMM_NULL);
    }
    return *this;
  }
  ~ParallelGroups() { free_io(); }

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
  // Every rank of the job, for collective file I/O only (see the top of this file).
  MPI_Comm io() const { return io_; }

  // Reset the byte counters of every communicator (e.g. at the start of a step).
  void reset_stats() const {
    for (Communicator* c : {tensor_.get(), data_.get(), pipeline_.get(), model_.get(), embedding_.get()})
      if (c) c->reset_stats();
  }

 private:
  Topology topology_;
  void free_io() noexcept {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (io_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&io_);
    io_ = MPI_COMM_NULL;
  }
  std::unique_ptr<Communicator> tensor_, data_, pipeline_, model_, embedding_;
  MPI_Comm io_ = MPI_COMM_NULL;
};

}  // namespace strata
