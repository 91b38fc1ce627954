// checkpoint.cpp — see checkpoint.h.
#include "src/checkpoint.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>

#include "kernels/error.h"
#include "src/lr_schedule.h"

namespace strata {

namespace {

// ---- test crash hook ----
int g_crash_self = -1;     // this process's world rank, when it is the one STRATA_TEST_CRASH_RANK names
int64_t g_crash_step = -1;  // the save being written (STRATA_TEST_CRASH_STEP: only that step's save crashes)

void crash_if(const char* point) {
  const char* at = std::getenv("STRATA_TEST_CRASH_AT");
  const char* step = std::getenv("STRATA_TEST_CRASH_STEP");
  if (g_crash_self >= 0 && at != nullptr && std::strcmp(at, point) == 0 &&
      (step == nullptr || std::atoll(step) == g_crash_step)) {
    std::fprintf(stderr, "strata-train: rank %d: STRATA_TEST_CRASH_AT=%s: killing this rank\n", g_crash_self, point);
    std::fflush(stderr);
    std::raise(SIGKILL);
  }
}
void crash_mid_data() { crash_if("mid_data"); }
void crash_before_latest() { crash_if("before_latest"); }

// ---- collectives over the whole world: the data group, then the model group (together every rank) ----
template <class T>
void world_all_reduce(const ParallelGroups* g, std::span<T> v, ReduceOp op) {
  if (g == nullptr) return;
  if (g->data().size() > 1) g->data().all_reduce(v, op);
  if (g->model().size() > 1) g->model().all_reduce(v, op);
}

// Every rank passes its error message ("" when it has none) and gets the lowest failing rank's, prefixed
// with its rank, or "" when no rank failed.
std::string agree_on_error(const ParallelGroups* g, int world_rank, const std::string& mine) {
  if (g == nullptr) return mine;
  const int world = g->topology().world_size();
  int64_t key = mine.empty() ? 0 : world - world_rank;
  world_all_reduce(g, std::span<int64_t>(&key, 1), ReduceOp::max);
  if (key == 0) return "";
  const int64_t winner = world - key;
  std::vector<int32_t> text(1024, 0);
  if (winner == world_rank)
    for (std::size_t i = 0; i < std::min(mine.size(), text.size() - 1); ++i) text[i] = static_cast<unsigned char>(mine[i]);
  world_all_reduce(g, std::span<int32_t>(text), ReduceOp::sum);
  std::string msg;
  for (int32_t c : text) {
    if (c == 0) break;
    msg.push_back(static_cast<char>(c));
  }
  return "rank " + std::to_string(winner) + ": " + msg;
}

// Checksums summed over the world exactly (mod 2^64): as 32-bit halves in int64 sums, which cannot overflow.
void world_sum_checksums(const ParallelGroups* g, std::vector<uint64_t>& sums) {
  if (g == nullptr) return;
  std::vector<int64_t> halves(2 * sums.size());
  for (std::size_t i = 0; i < sums.size(); ++i) {
    halves[2 * i] = static_cast<int64_t>(sums[i] & 0xffffffffu);
    halves[2 * i + 1] = static_cast<int64_t>(sums[i] >> 32);
  }
  world_all_reduce(g, std::span<int64_t>(halves), ReduceOp::sum);
  for (std::size_t i = 0; i < sums.size(); ++i)
    sums[i] = static_cast<uint64_t>(halves[2 * i]) + (static_cast<uint64_t>(halves[2 * i + 1]) << 32);
}

std::string layout_text(const Config& cfg, const ParallelGroups* g) {
  const int world = g != nullptr ? g->topology().world_size() : 1;
  return "tensor=" + std::to_string(cfg.parallel.tensor) + " pipeline=" + std::to_string(cfg.parallel.pipeline) +
         " data=" + std::to_string(cfg.data_parallel(world)) + " zero=" + std::to_string(cfg.parallel.zero_stage);
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

std::size_t row_len(const ParamTensor& t) { return t.count / static_cast<std::size_t>(t.shape[0]); }

// A run of a piece's local rows as a rectangle of the full logical tensor; `at` is its first element
// within the piece.
struct RectAt {
  CheckpointRect rect;
  std::size_t at;
};

// Local rows [first, first + rows) of t on tensor rank `trank` of `tsize` as rectangles of the full
// tensor, whose first dimension is cut at `logical_rows` (wte without its padded rows).
std::vector<RectAt> rects_of(const ParamTensor& t, int trank, int tsize, int64_t first, int64_t rows,
                             int64_t logical_rows) {
  const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
  std::vector<RectAt> out;
  auto add = [&](int64_t full_row, int64_t n, int64_t col, int64_t local_row) {
    n = std::min(n, logical_rows - full_row);
    if (n > 0)
      out.push_back({{full_row, n, col, cols}, static_cast<std::size_t>((local_row - first) * cols)});
  };
  switch (t.split) {
    case ParamTensor::Split::none: add(first, rows, 0, first); break;
    case ParamTensor::Split::cols: add(first, rows, trank * cols, first); break;
    case ParamTensor::Split::rows: {
      const int64_t rb = t.row_block;
      for (int64_t r = first; r < first + rows;) {
        const int64_t within = r % rb, n = std::min(rb - within, first + rows - r);
        add((r / rb) * rb * tsize + trank * rb + within, n, 0, r);
        r += n;
      }
      break;
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<float[]> Checkpointer::allocate_staging(std::size_t n) {
  // Not value-initialized; touched once here, in parallel, so that the first save does not pay the page faults.
  std::unique_ptr<float[]> buf(new float[std::max<std::size_t>(n, 1)]);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; i += 1024) buf[i] = 0.0f;
  return buf;
}

// Device to host; on the CPU backend a memcpy split over the OpenMP threads (the copy is all an async
// save makes the training loop wait for).
void Checkpointer::host_copy(float* dst, const float* src, std::size_t count) {
  if (be_.kind() != DeviceKind::cpu) {
    be_.copy_to_host(dst, src, count * sizeof(float));
    return;
  }
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  const std::size_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (std::size_t c = 0; c < chunks; ++c)
    std::memcpy(dst + c * kChunk, src + c * kChunk, std::min(kChunk, count - c * kChunk) * sizeof(float));
}

struct Checkpointer::Piece {
  std::size_t tensor = 0;       // local tensor index
  std::size_t first_row = 0, rows = 0;
  std::size_t offset = 0;       // of its first element in the flat parameter buffer
  std::size_t state_offset = 0; // in the Adam state buffers
  bool owner = false;           // writes and hashes it
};

struct Checkpointer::Pending {
  int64_t step = 0;
  std::string file;
  std::vector<uint64_t> sums;   // per dataset, this rank's share
  std::string error;
  std::atomic<bool> done{false};
  std::thread thread;
  bool copied = true;  // the host copy is complete (guarded by mutex)
  std::mutex mutex;
  std::condition_variable cv;
  void set_copied() {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      copied = true;
    }
    cv.notify_all();
  }
};

Checkpointer::Checkpointer(const Config& cfg, Backend& backend, const ParamLayout& layout, const ParallelGroups* groups)
    : cfg_(cfg), be_(backend), layout_(layout), groups_(groups) {
  const ModelPartition& part = layout_.partition();
  if (groups_ != nullptr) {
    world_rank_ = groups_->topology().rank();
    data_rank_ = groups_->data().rank();
    data_size_ = groups_->data().size();
  }
  sharded_state_ = data_size_ > 1 && cfg_.parallel.zero_stage >= 1;
  sharded_params_ = sharded_state_ && cfg_.parallel.zero_stage == 3;
  const char* crash_rank = std::getenv("STRATA_TEST_CRASH_RANK");
  if (std::getenv("STRATA_TEST_CRASH_AT") != nullptr && world_rank_ == (crash_rank ? std::atoi(crash_rank) : 0))
    g_crash_self = world_rank_;

  // Every dataset of the full model, in file order; wte without its padded rows.
  GptShape shape = cfg_.shape();
  const ParamLayout full(shape, ModelPartition{});
  std::map<std::string, int> index;
  for (const char* group : kCheckpointGroups)
    for (const ParamTensor& t : full.tensors()) {
      std::vector<int64_t> s = t.full_shape;
      if (t.kind == ParamKind::wte) s[0] = shape.vocab_size;
      if (group == kCheckpointGroups[0]) index[t.name()] = static_cast<int>(datasets_.size());
      datasets_.push_back({std::string(group) + "/" + t.name(), s});
    }
  for (const ParamTensor& t : layout_.tensors()) dataset_of_tensor_.push_back(index.at(t.name()));

  // This rank's pieces: ZeRO's row split of every local tensor over the data group.
  std::vector<ShardTensor> shard_tensors;
  for (const ParamTensor& t : layout_.tensors()) {
    const std::size_t rows = static_cast<std::size_t>(t.shape[0]);
    shard_tensors.push_back({t.offset, rows, t.count / rows});
  }
  const ZeroPartition zp(shard_tensors, data_size_);
  sharded_state_size_ = zp.owned(data_rank_);
  for (const ShardPiece& p : zp.pieces(data_rank_)) {
    const ParamTensor& t = layout_.tensors()[p.tensor];
    Piece piece;
    piece.tensor = p.tensor;
    piece.first_row = p.first_row;
    piece.rows = p.count / shard_tensors[p.tensor].row_len;
    piece.offset = p.offset;
    piece.state_offset = sharded_state_ ? p.state_offset : p.offset;
    const bool replica = t.split == ParamTensor::Split::none && part.tensor_rank != 0;
    const bool wte_copy = t.kind == ParamKind::wte && !part.has_embedding;
    piece.owner = !replica && !wte_copy;
    if (piece.owner) staged_ += 3 * p.count;
    owned_.push_back(piece);
  }
  if (cfg_.checkpoint.async) staging_ = allocate_staging(staged_);
}

Checkpointer::~Checkpointer() {
  if (pending_state_ && pending_state_->thread.joinable()) pending_state_->thread.join();
  if (trash_thread_.joinable()) trash_thread_.join();
}

void Checkpointer::save(const float* params, const float* adam_m, const float* adam_v, const TrainPosition& pos,
                        bool async) {
  STRATA_CHECK(!cfg_.checkpoint.dir.empty(), config, "checkpoint.dir: no checkpoint directory to save into");
  wait();
  async = async && background_writes_possible();
  auto p = std::make_unique<Pending>();
  p->step = pos.step;
  p->sums.assign(datasets_.size(), 0);
  const ModelPartition& part = layout_.partition();
  // 1. The host copy of the owned pieces. A synchronous save on the CPU backend writes straight from the
  // buffers. An async one copies on the CPU backend on the background thread, while the next step's
  // forward and backward (which only read the parameters and leave the Adam state alone) run; the
  // trainer calls wait_for_copy() before its optimizer step. Other backends copy here.
  const bool direct = !async && be_.kind() == DeviceKind::cpu;
  const bool copy_in_background = async && be_.kind() == DeviceKind::cpu;
  const std::size_t n = staged_ / 3;
  be_.synchronize();
  if (!direct && !staging_) staging_ = allocate_staging(staged_);
  auto copy_pieces = [this, params, adam_m, adam_v, n] {
    std::size_t at = 0;
    for (const Piece& pc : owned_) {
      if (!pc.owner) continue;
      const std::size_t count = pc.rows * row_len(layout_.tensors()[pc.tensor]);
      host_copy(staging_.get() + at, params + (sharded_params_ ? pc.state_offset : pc.offset), count);
      host_copy(staging_.get() + n + at, adam_m + pc.state_offset, count);
      host_copy(staging_.get() + 2 * n + at, adam_v + pc.state_offset, count);
      at += count;
    }
  };
  if (!direct && !copy_in_background) copy_pieces();
  p->copied = !copy_in_background;
  // 2. Rank 0 creates the file with every dataset allocated in place; the agreement is the barrier after it.
  const std::string& dir = cfg_.checkpoint.dir;
  p->file = checkpoint_temp_dir(dir, pos.step) + "/" + kCheckpointStateFile;
  std::string err;
  if (world_rank_ == 0) {
    try {
      CheckpointMeta meta;
      meta.step = pos.step;
      meta.tokens = pos.tokens;
      meta.loader_next_sample = pos.loader_next_sample;
      meta.seed = cfg_.train.seed;
      LrSchedule sched{cfg_.optim.lr, cfg_.optim.min_lr, cfg_.optim.warmup_steps, cfg_.train.steps, cfg_.optim.decay};
      meta.lr = sched.at(pos.step);
      meta.config_ini = config_to_ini(cfg_);
      meta.layout = layout_text(cfg_, groups_);
      prepare_checkpoint_temp_dir(dir, pos.step);
      create_checkpoint_file(p->file, meta, datasets_);
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  err = agree_on_error(groups_, world_rank_, err);
  STRATA_CHECK(err.empty(), internal, "saving checkpoint step ", pos.step, " in ", dir, " failed: ", err);
  // 3. Every rank writes its rectangles collectively with parallel HDF5 (here or on a background thread)
  // and hashes them.
  std::vector<CheckpointWrite> writes;
  const std::size_t per_group = datasets_.size() / 3;
  std::size_t at = 0;
  for (const Piece& pc : owned_) {
    if (!pc.owner) continue;
    const ParamTensor& t = layout_.tensors()[pc.tensor];
    const int d0 = dataset_of_tensor_[pc.tensor];
    const int64_t cols = checkpoint_cols(datasets_[d0].shape);
    const float* src[3] = {params + (sharded_params_ ? pc.state_offset : pc.offset), adam_m + pc.state_offset,
                           adam_v + pc.state_offset};
    if (!direct) src[0] = staging_.get() + at, src[1] = staging_.get() + n + at, src[2] = staging_.get() + 2 * n + at;
    for (const RectAt& r : rects_of(t, part.tensor_rank, part.tensor_size, static_cast<int64_t>(pc.first_row),
                                    static_cast<int64_t>(pc.rows), datasets_[d0].shape[0]))
      for (int g = 0; g < 3; ++g) writes.push_back({d0 + g * static_cast<int>(per_group), cols, r.rect, src[g] + r.at});
    at += pc.rows * row_len(t);
  }
  g_crash_step = pos.step;
  crash_if("before_data");
  Pending* raw = p.get();
  auto work = [raw, writes = std::move(writes), specs = &datasets_, io = io_comm(), async, copy_in_background,
               copy_pieces]() {
    try {
      if (async) {
        // Leave the cores to the training loop: one OpenMP thread, and the lowest scheduling priority
        // (Linux applies a thread's nice value to that thread alone).
        omp_set_num_threads(1);
        setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
      }
      if (copy_in_background) {
        copy_pieces();
        raw->set_copied();
      }
      // A background write stays out of MPI's progress engine (see CheckpointTransfer); a synchronous one,
      // where training waits anyway, lets MPI-IO aggregate.
      write_checkpoint_data(io, raw->file, *specs, writes,
                            async ? CheckpointTransfer::independent : CheckpointTransfer::collective, crash_mid_data);
      for (const CheckpointWrite& w : writes) raw->sums[w.dataset] += checkpoint_rect_checksum(w.data, w.rect, w.dataset_cols);
    } catch (const std::exception& e) {
      raw->error = e.what();
    }
    raw->set_copied();  // also after a failure: never leave the training loop waiting
    raw->done = true;
  };
  pending_state_ = std::move(p);
  pending_ = true;
  if (async) {
    pending_state_->thread = std::thread(std::move(work));
  } else {
    work();
    commit();
  }
}

MPI_Comm Checkpointer::io_comm() const { return groups_ != nullptr ? groups_->io() : MPI_COMM_NULL; }

bool Checkpointer::background_writes_possible() {
  if (io_comm() == MPI_COMM_NULL) return true;
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  if (level == MPI_THREAD_MULTIPLE) return true;
  if (world_rank_ == 0 && !warned_sync_)
    std::fprintf(stderr, "strata-train: warning: checkpoint.async: this MPI library does not provide "
                         "MPI_THREAD_MULTIPLE, which collective writes from a background thread need; saving "
                         "synchronously\n");
  warned_sync_ = true;
  return false;
}

void Checkpointer::wait_for_copy() {
  if (!pending_) return;
  Pending& p = *pending_state_;
  std::unique_lock<std::mutex> lock(p.mutex);
  p.cv.wait(lock, [&] { return p.copied; });
}

void Checkpointer::poll() {
  if (!pending_) return;
  int64_t busy = pending_state_->done ? 0 : 1;
  world_all_reduce(groups_, std::span<int64_t>(&busy, 1), ReduceOp::max);
  if (busy == 0) commit();
}

void Checkpointer::wait() {
  if (pending_) commit();
}

void Checkpointer::commit() {
  Pending& p = *pending_state_;
  if (p.thread.joinable()) p.thread.join();
  pending_ = false;
  // 4. Every rank's data is durable (fsync'd) once all agree no rank failed; then rank 0 stores the
  // checksums and renames the directory into place and updates latest.
  std::string err = agree_on_error(groups_, world_rank_, p.error);
  STRATA_CHECK(err.empty(), internal, "saving checkpoint step ", p.step, " in ", cfg_.checkpoint.dir, " failed: ", err);
  world_sum_checksums(groups_, p.sums);
  if (world_rank_ == 0) {
    try {
      set_checkpoint_checksums(p.file, datasets_, p.sums);
      if (trash_thread_.joinable()) trash_thread_.join();
      commit_checkpoint_dir(cfg_.checkpoint.dir, p.step, cfg_.checkpoint.keep, crash_before_latest);
      // The retired checkpoints' files are deleted while training goes on.
      trash_thread_ = std::thread(remove_checkpoint_trash, cfg_.checkpoint.dir);
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  err = agree_on_error(groups_, world_rank_, err);
  STRATA_CHECK(err.empty(), internal, "saving checkpoint step ", p.step, " in ", cfg_.checkpoint.dir, " failed: ", err);
  last_saved_ = p.step;
  pending_state_.reset();
}

TrainPosition Checkpointer::load(const std::string& step_dir, float* params, float* adam_m, float* adam_v) {
  const ModelPartition& part = layout_.partition();
  const std::size_t state_size = sharded_state_ ? sharded_state_size_ : layout_.total();
  const std::size_t param_size = sharded_params_ ? sharded_state_size_ : layout_.total();
  // Read straight into the buffers on the CPU backend, else into host copies. Zeroed first: wte's padded
  // rows are not stored.
  const bool direct = be_.kind() == DeviceKind::cpu;
  std::vector<float> host_p, host_m, host_v;
  float* dst_p = params;
  float* dst_m = adam_m;
  float* dst_v = adam_v;
  if (direct) {
    be_.fill_zero(params, param_size * sizeof(float));
    if (state_size > 0) {
      be_.fill_zero(adam_m, state_size * sizeof(float));
      be_.fill_zero(adam_v, state_size * sizeof(float));
    }
  } else {
    host_p.assign(param_size, 0.0f);
    host_m.assign(state_size, 0.0f);
    host_v.assign(state_size, 0.0f);
    dst_p = host_p.data(), dst_m = host_m.data(), dst_v = host_v.data();
  }
  std::vector<uint64_t> sums(datasets_.size(), 0), stored(datasets_.size(), 0);
  const std::size_t per_group = datasets_.size() / 3;
  CheckpointMeta meta;
  std::string file = step_dir + "/" + kCheckpointStateFile, err;
  try {
    const CheckpointReader reader(step_dir);
    file = reader.file();
    meta = reader.meta();
    for (std::size_t d = 0; d < datasets_.size(); ++d) {
      const std::vector<int64_t> s = reader.shape(datasets_[d].path);
      STRATA_CHECK(s == datasets_[d].shape, data, file, ": dataset ", datasets_[d].path, " has shape ", shape_text(s),
                   ", the configured model needs ", shape_text(datasets_[d].shape),
                   " (model.* differ from the checkpoint's configuration)");
      stored[d] = reader.stored_checksum(datasets_[d].path);
    }
    // Parameters: every local tensor whole (replicas included), or with ZeRO-3 this rank's shard (read
    // below with the state); state: what this rank's buffers hold.
    const auto& tensors = layout_.tensors();
    for (std::size_t ti = 0; ti < tensors.size() && !sharded_params_; ++ti) {
      const ParamTensor& t = tensors[ti];
      const int d = dataset_of_tensor_[ti];
      for (const RectAt& r : rects_of(t, part.tensor_rank, part.tensor_size, 0, t.shape[0], datasets_[d].shape[0])) {
        reader.read(datasets_[d].path, r.rect, dst_p + t.offset + r.at);
        if (!sharded_state_) {
          reader.read(datasets_[d + per_group].path, r.rect, dst_m + t.offset + r.at);
          reader.read(datasets_[d + 2 * per_group].path, r.rect, dst_v + t.offset + r.at);
        }
      }
    }
    for (const Piece& pc : owned_) {
      const ParamTensor& t = tensors[pc.tensor];
      const int d = dataset_of_tensor_[pc.tensor];
      const int64_t cols = checkpoint_cols(datasets_[d].shape);
      for (const RectAt& r : rects_of(t, part.tensor_rank, part.tensor_size, static_cast<int64_t>(pc.first_row),
                                      static_cast<int64_t>(pc.rows), datasets_[d].shape[0])) {
        float* m = dst_m + pc.state_offset + r.at;
        float* v = dst_v + pc.state_offset + r.at;
        float* w = dst_p + (sharded_params_ ? pc.state_offset : pc.offset) + r.at;
        if (sharded_params_) reader.read(datasets_[d].path, r.rect, w);
        if (sharded_state_) {
          reader.read(datasets_[d + per_group].path, r.rect, m);
          reader.read(datasets_[d + 2 * per_group].path, r.rect, v);
        }
        if (!pc.owner) continue;
        sums[d] += checkpoint_rect_checksum(w, r.rect, cols);
        sums[d + per_group] += checkpoint_rect_checksum(m, r.rect, cols);
        sums[d + 2 * per_group] += checkpoint_rect_checksum(v, r.rect, cols);
      }
    }
  } catch (const std::exception& e) {
    err = e.what();
  }
  err = agree_on_error(groups_, world_rank_, err);
  STRATA_CHECK(err.empty(), data, "cannot load checkpoint ", step_dir, ": ", err);
  world_sum_checksums(groups_, sums);
  for (std::size_t d = 0; d < datasets_.size(); ++d)
    STRATA_CHECK(sums[d] == stored[d], data, file, ": dataset ", datasets_[d].path, ": checksum mismatch (stored ",
                 stored[d], ", computed ", sums[d], "): the checkpoint is corrupt");
  if (!direct) {
    be_.copy_to_device(params, dst_p, host_p.size() * sizeof(float));
    if (state_size > 0) {
      be_.copy_to_device(adam_m, dst_m, state_size * sizeof(float));
      be_.copy_to_device(adam_v, dst_v, state_size * sizeof(float));
    }
  }
  be_.synchronize();
  return {meta.step, meta.tokens, meta.loader_next_sample};
}

void Checkpointer::report_resume(const std::string& step_dir, const TrainPosition& pos) const {
  if (world_rank_ != 0) return;
  std::printf("resumed from checkpoint %s: step %lld, %lld tokens\n", step_dir.c_str(), static_cast<long long>(pos.step),
              static_cast<long long>(pos.tokens));
  std::fflush(stdout);
}

bool Checkpointer::load_configured(float* params, float* adam_m, float* adam_v, TrainPosition* pos) {
  const std::string& what = cfg_.checkpoint.load;
  if (what.empty()) return false;
  if (what != "auto") {
    std::string step_dir, err;
    try {
      step_dir = resolve_checkpoint(what);
    } catch (const std::exception& e) {
      err = e.what();
    }
    err = agree_on_error(groups_, world_rank_, err);
    STRATA_CHECK(err.empty(), data, "checkpoint.load = ", what, ": ", err);
    *pos = load(step_dir, params, adam_m, adam_v);
    report_resume(step_dir, *pos);
    return true;
  }
  // auto: latest, then the older complete checkpoints, newest first.
  const std::string& dir = cfg_.checkpoint.dir;
  std::vector<std::string> candidates;
  std::string first_name;
  try {
    if (auto latest = latest_checkpoint(dir)) {
      candidates.push_back(*latest);
      first_name = std::filesystem::path(*latest).filename().string();
    }
  } catch (const std::exception& e) {
    if (world_rank_ == 0) std::fprintf(stderr, "strata-train: warning: %s; trying older checkpoints\n", e.what());
    first_name = "~";  // every step_* name sorts before it
  }
  if (!first_name.empty())
    for (const std::string& s : list_checkpoints(dir))
      if (s < first_name)
        candidates.push_back((std::filesystem::path(dir) / s).string());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    try {
      *pos = load(candidates[i], params, adam_m, adam_v);
      if (i > 0 && world_rank_ == 0)
        std::fprintf(stderr, "strata-train: falling back to the previous good checkpoint %s\n", candidates[i].c_str());
      report_resume(candidates[i], *pos);
      return true;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::data) throw;
      if (world_rank_ == 0)
        std::fprintf(stderr, "strata-train: warning: checkpoint %s is unusable: %s\n", candidates[i].c_str(), e.what());
    }
  }
  STRATA_CHECK(candidates.empty(), data, "checkpoint.load = auto: no usable checkpoint in ", dir, " (",
               candidates.size(), " tried, see the warnings above)");
  return false;
}

}  // namespace strata
