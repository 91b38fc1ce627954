// checkpoint.h — parallel save and load of a rank's training state in the layout-independent format of
// io/checkpoint_file.h (SPEC section 8): who writes and reads which rectangle of which dataset.
//
// Ownership. Every element of every dataset is written by exactly one rank, which also hashes it:
//  - a tensor's local rows (this tensor rank's slice, ParamLayout) are split over the data group as ZeRO
//    shards are (zero_partition.h: whole rows, rank r takes rows [r*q, (r+1)*q)), whatever the ZeRO stage,
//    so the data ranks share the writing even where they hold replicas;
//  - tensors replicated over the tensor group (LayerNorms, wpe, row-parallel biases) belong to tensor rank 0;
//  - the tied wte belongs to the first pipeline stage (the last stage's copy is not written);
//  - wte's padded vocabulary rows (internal, always zero) are not stored.
// A local row range maps to rectangles of the full tensor: one for replicated and column-split tensors,
// one per row block for row-split ones (ParamTensor::row_block). Loading uses the same map in the new
// layout: every rank reads the rectangles of its whole local parameters (and of its Adam state: its ZeRO
// shards, or everything at stage 0) and hashes the part it owns, so the checksums sum to each dataset's.
//
// Saving: rank 0 creates state.h5 (metadata, datasets allocated in place), every rank copies its owned
// rectangles to a host buffer and all ranks write them into the file collectively with parallel HDF5
// (MPI-IO on the groups' file-I/O communicator, io/checkpoint_write.h) and fsync, then the
// checksums and statuses are summed over all ranks, rank 0 stores the checksums and commits the
// directory (rename, `latest`) — only after every rank's data is durable — and deletes the checkpoints
// beyond checkpoint.keep on a background thread. With async the writing runs
// on a background thread (on the CPU backend the host copy too, overlapping the next forward/backward:
// wait_for_copy() before the optimizer step); poll() (after every step) commits once every rank is
// done, wait() blocks.
// Errors on any rank are agreed on by all ranks (the lowest failing rank's message) and thrown on
// every rank: no rank hangs in a collective another rank skipped.
//
// Test hook: STRATA_TEST_CRASH_AT=before_data|mid_data|before_latest kills (SIGKILL) the rank
// STRATA_TEST_CRASH_RANK (world rank, default 0) at that point of a save (of step STRATA_TEST_CRASH_STEP
// only, when set). before_latest happens on rank 0, which alone renames and updates `latest`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint_file.h"
#include "io/checkpoint_write.h"
#include "kernels/backend.h"
#include "parallel/groups.h"
#include "parallel/zero_partition.h"
#include "src/config.h"
#include "src/param_layout.h"

namespace strata {

// The training state a checkpoint holds besides the tensors.
struct TrainPosition {
  int64_t step = 0;
  int64_t tokens = 0;
  uint64_t loader_next_sample = 0;
};

class Checkpointer {
 public:
  // layout: this rank's partition; groups null on one rank. The Adam state buffers given to save/load
  // are laid out as the trainer's: ZeRO shards packed (stage >= 1 with a data group > 1), else the flat
  // local layout.
  Checkpointer(const Config& cfg, Backend& backend, const ParamLayout& layout, const ParallelGroups* groups);
  ~Checkpointer();  // waits for a pending background write (does not commit it)
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Saves the state at `pos` under checkpoint.dir (collective). Sync: returns once committed. Async:
  // returns after the host copy; waits first for a previous pending save.
  void save(const float* params, const float* adam_m, const float* adam_v, const TrainPosition& pos, bool async);
  // Blocks until a pending async save's host copy is done: call before modifying the parameters or the
  // Adam state (the optimizer step). Local, cheap.
  void wait_for_copy();
  // Collective, cheap: commits a pending async save when every rank has written its data.
  void poll();
  // Collective: waits for and commits a pending async save (at exit and before the next save).
  void wait();
  bool pending() const { return pending_; }
  int64_t last_saved_step() const { return last_saved_; }

  // Loads the step directory into the buffers (collective); throws Error{data} on every rank for a
  // missing, truncated or corrupt checkpoint or one whose shapes do not match the model.
  TrainPosition load(const std::string& step_dir, float* params, float* adam_m, float* adam_v);

  // checkpoint.load resolved: "" (none), the path, or for "auto" the newest good checkpoint of
  // checkpoint.dir (a corrupt latest is reported on stderr by rank 0 and the previous one tried); loads it.
  // Returns false when there is nothing to load.
  bool load_configured(float* params, float* adam_m, float* adam_v, TrainPosition* pos);

  // Floats of host staging one save uses on this rank (its owned pieces, three buffers).
  std::size_t staging_floats() const { return staged_; }

 private:
  struct Piece;  // one owned rectangle of one tensor
  struct Pending;
  void commit();
  static std::unique_ptr<float[]> allocate_staging(std::size_t n);
  void host_copy(float* dst, const float* src, std::size_t count);
  void report_resume(const std::string& step_dir, const TrainPosition& pos) const;
  MPI_Comm io_comm() const;  // the groups' file-I/O communicator; MPI_COMM_NULL on one rank
  // Whether an async save may write on a background thread: one rank, or MPI_THREAD_MULTIPLE (else the
  // writes run in save(), with a warning once).
  bool background_writes_possible();

  Config cfg_;
  Backend& be_;
  const ParamLayout& layout_;
  const ParallelGroups* groups_;
  int world_rank_ = 0, data_rank_ = 0, data_size_ = 1;
  bool sharded_state_ = false;
  // ZeRO-3 on several data ranks: the parameters, like the Adam state, are this rank's shard (laid out at
  // the pieces' state_offset), not the whole local tensors.
  bool sharded_params_ = false;
  std::size_t sharded_state_size_ = 0;  // this rank's Adam state floats when sharded
  std::vector<CheckpointDatasetSpec> datasets_;  // all datasets of the full model, file order
  std::vector<int> dataset_of_tensor_;           // local tensor -> index of its params dataset
  std::vector<Piece> owned_;                     // this rank's pieces (all groups use the same)
  std::size_t staged_ = 0;
  std::unique_ptr<float[]> staging_;  // the host copy of an async save (staged_ floats), kept between saves
  std::unique_ptr<Pending> pending_state_;
  std::thread trash_thread_;  // rank 0: deletes the checkpoints the last commit retired
  bool pending_ = false;
  bool warned_sync_ = false;
  int64_t last_saved_ = -1;
};

}  // namespace strata
