// prefetch_loader.cpp — see prefetch_loader.h.
//
// Protocol between read() (the user thread) and io_main() (the I/O thread), all under mutex_:
// the ring holds `filled_` ready slots from `head_` on, slot (head_ + i) % depth holding schedule read
// head_k_ + i. The I/O thread fills slot (head_ + filled_) % depth outside the lock; no other thread
// touches that slot meanwhile, because read() only copies slots already counted in filled_ and
// restarts come only from read()/seek() on the user thread. A restart bumps generation_, so a read in
// flight when it happened is dropped instead of being counted.
#include "io/prefetch_loader.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "io/hdf5_lock.h"
#include "io/sample_order.h"
#include "io/shard.h"
#include "io/token_dataset.h"
#include "kernels/error.h"

namespace strata {

// ---------------------------------------------------------------------------------------------------
// BatchSchedule

void BatchSchedule::validate() const {
  STRATA_CHECK(global_batch > 0 && micro_batch > 0 && data_size > 0, config, "loader schedule: global_batch ",
               global_batch, ", micro_batch ", micro_batch, ", data ranks ", data_size, "; expected positive sizes");
  STRATA_CHECK(data_rank < data_size, config, "loader schedule: data rank ", data_rank, " outside [0, ", data_size,
               ")");
  STRATA_CHECK(global_batch % (micro_batch * data_size) == 0, config, "train.global_batch = ", global_batch,
               " is not divisible by train.micro_batch * data ranks = ", micro_batch, " * ", data_size);
}

std::uint64_t BatchSchedule::first_sample(std::uint64_t k) const { return data_rank * micro_batch + wrap(k) * stride(); }

std::optional<std::uint64_t> BatchSchedule::position_of(std::uint64_t first, std::size_t count) const {
  const std::uint64_t base = data_rank * micro_batch;
  if (count != micro_batch || first < base || (first - base) % stride() != 0) return std::nullopt;
  const std::uint64_t k = (first - base) / stride();
  if (cycle_steps > 0 && k >= cycle_steps * micro_batches()) return std::nullopt;
  return k;
}

// ---------------------------------------------------------------------------------------------------
// The I/O thread's side: the dataset, opened, read and closed on that thread only.

class PrefetchLoader::Io {
 public:
  explicit Io(const LoaderOptions& o) : dataset_(o.inputs, o.what) {
    dataset_.check_model_vocab(o.model_vocab);
    reader_.emplace(dataset_, o.seq_len, o.seed, o.shuffle);
  }
  const TokenDataset& dataset() const { return dataset_; }
  const BatchReader& reader() const { return *reader_; }

  // BatchReader::read plus a range check of every token (free next to the read): a token outside the
  // vocabulary would otherwise index past the embedding.
  void read(std::uint64_t first, std::size_t count, std::int32_t* inputs, std::int32_t* targets) const {
    {
      const auto h5 = hdf5_lock();
      reader_->read(first, count, inputs, targets);
    }
    const auto t = static_cast<std::size_t>(reader_->seq_len());
    const std::int64_t vocab = dataset_.vocab_size();
    for (std::size_t j = 0; j < count; ++j) {
      for (std::size_t i = 0; i <= t; ++i) {  // the sample's t + 1 tokens: inputs, then the last target
        const std::int32_t tok = i < t ? inputs[j * t + i] : targets[j * t + t - 1];
        if (tok < 0 || tok >= vocab) bad_token(first + j, i, tok);
      }
    }
  }

 private:
  [[noreturn]] void bad_token(std::uint64_t k, std::size_t i, std::int32_t tok) const {
    const std::uint64_t global = reader_->order().sample(k) * static_cast<std::uint64_t>(reader_->seq_len()) + i;
    std::size_t s = 0;
    while (s + 1 < dataset_.num_shards() && dataset_.shard_offset(s + 1) <= global) ++s;
    STRATA_THROW(data, dataset_.what(), ": ", dataset_.shard(s).path(), ": token ", tok, " at offset ",
                 global - dataset_.shard_offset(s), " of /tokens (offset ", global, " of the dataset, global sample ",
                 k, ") is outside the vocabulary [0, ", dataset_.vocab_size(),
                 "); check the shards with strata-data verify");
  }

  TokenDataset dataset_;
  std::optional<BatchReader> reader_;
};

// ---------------------------------------------------------------------------------------------------
// PrefetchLoader

PrefetchLoader::PrefetchLoader(LoaderOptions options) : options_(std::move(options)) {
  const BatchSchedule& sc = options_.schedule;
  sc.validate();
  STRATA_CHECK(options_.depth >= 1 && options_.depth <= 16, config, options_.what, ": prefetch depth ",
               options_.depth, "; expected 1 to 16 micro-batches");
  STRATA_CHECK(options_.seq_len > 0, config, "model.seq_len is ", options_.seq_len, "; expected a positive integer");
  STRATA_CHECK(options_.start.next_sample % sc.global_batch == 0, config, options_.what, ": data position ",
               options_.start.next_sample, " is not a multiple of train.global_batch = ", sc.global_batch,
               " (a checkpoint written with another global batch?)");
  // The first HDF5 call of the process initializes the library, which with parallel HDF5 registers an
  // MPI attribute: do it here, on the (MPI) calling thread, not on the I/O thread.
  hdf5_silence_errors();
  const std::size_t n = static_cast<std::size_t>(sc.micro_batch) * static_cast<std::size_t>(options_.seq_len);
  slots_.resize(static_cast<std::size_t>(options_.depth));
  for (Slot& s : slots_) {
    s.inputs.resize(n);
    s.targets.resize(n);
  }
  head_k_ = sc.wrap(options_.start.next_sample / sc.global_batch * sc.micro_batches());
  thread_ = std::thread([this] { io_main(); });
  std::unique_lock<std::mutex> lk(mutex_);
  to_user_.wait(lk, [&] { return opened_; });
  if (open_error_ || fatal_) {
    lk.unlock();
    thread_.join();
    std::rethrow_exception(open_error_ ? open_error_ : fatal_);
  }
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stop_ = true;
  }
  to_io_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PrefetchLoader::io_main() {
  // Nothing may escape a thread function (std::terminate): anything thrown outside a read ends the
  // thread and is rethrown by every later read().
  try {
    io_loop();
  } catch (...) {
    std::lock_guard<std::mutex> lk(mutex_);
    fatal_ = std::current_exception();
    opened_ = true;
    to_user_.notify_all();
  }
}

void PrefetchLoader::io_loop() {
  std::unique_ptr<Io> io;
  try {
    const auto h5 = hdf5_lock();  // released after a failed open has closed its files
    io = std::make_unique<Io>(options_);
  } catch (...) {
    std::lock_guard<std::mutex> lk(mutex_);
    open_error_ = std::current_exception();
    opened_ = true;
    to_user_.notify_all();
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mutex_);
    num_tokens_ = io->dataset().num_tokens();
    num_samples_ = io->reader().num_samples();
    num_shards_ = io->dataset().num_shards();
    vocab_size_ = io->dataset().vocab_size();
    opened_ = true;
  }
  to_user_.notify_all();

  const BatchSchedule& sc = options_.schedule;
  const std::size_t depth = slots_.size();
  std::unique_lock<std::mutex> lk(mutex_);
  while (true) {
    to_io_.wait(lk, [&] { return stop_ || one_off_ || (!stalled_ && filled_ < depth); });
    if (stop_) break;
    if (one_off_) {
      const OneOff job = *one_off_;
      lk.unlock();
      std::exception_ptr error;
      try {
        io->read(job.first, job.count, job.inputs, job.targets);
      } catch (...) {
        error = std::current_exception();
      }
      lk.lock();
      one_off_.reset();
      one_off_error_ = error;
      one_off_done_ = true;
      to_user_.notify_all();
      continue;
    }
    const std::uint64_t k = head_k_ + filled_;
    const std::uint64_t generation = generation_;
    Slot& slot = slots_[(head_ + filled_) % depth];
    lk.unlock();
    std::exception_ptr error;
    try {
      io->read(sc.first_sample(k), static_cast<std::size_t>(sc.micro_batch), slot.inputs.data(), slot.targets.data());
    } catch (...) {
      error = std::current_exception();
    }
    lk.lock();
    if (generation != generation_) continue;  // restarted meanwhile: this read is not wanted any more
    slot.error = error;
    stalled_ = error != nullptr;
    ++filled_;
    to_user_.notify_all();
  }
  lk.unlock();
  const auto h5 = hdf5_lock();
  io.reset();
}

void PrefetchLoader::restart_locked(std::uint64_t k) {
  head_k_ = options_.schedule.wrap(k);
  head_ = 0;
  filled_ = 0;
  stalled_ = false;
  ++generation_;
  to_io_.notify_all();
}

void PrefetchLoader::read(std::uint64_t first, std::size_t count, std::int32_t* inputs, std::int32_t* targets) {
  using clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lk(mutex_);
  ++stats_.reads;
  const std::optional<std::uint64_t> k = options_.schedule.position_of(first, count);
  if (!k) {  // outside the schedule: the I/O thread reads it next, into the caller's buffers
    const auto t0 = clock::now();
    one_off_ = OneOff{first, count, inputs, targets};
    one_off_done_ = false;
    to_io_.notify_all();
    to_user_.wait(lk, [&] { return one_off_done_ || fatal_; });
    if (!one_off_done_) std::rethrow_exception(fatal_);
    ++stats_.one_off;
    ++stats_.waited;
    stats_.wait_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    if (one_off_error_) std::rethrow_exception(std::exchange(one_off_error_, nullptr));
    return;
  }
  if (*k != head_k_) {
    restart_locked(*k);
    ++stats_.seeks;
  }
  if (filled_ == 0) {
    const auto t0 = clock::now();
    to_user_.wait(lk, [&] { return filled_ > 0 || fatal_; });
    if (filled_ == 0) std::rethrow_exception(fatal_);
    ++stats_.waited;
    stats_.wait_seconds += std::chrono::duration<double>(clock::now() - t0).count();
  }
  const Slot& slot = slots_[head_];
  // The slot stays at the head: reading this position again rethrows, a restart clears it.
  if (slot.error) std::rethrow_exception(slot.error);
  lk.unlock();
  std::copy(slot.inputs.begin(), slot.inputs.end(), inputs);
  std::copy(slot.targets.begin(), slot.targets.end(), targets);
  lk.lock();
  head_ = (head_ + 1) % slots_.size();
  head_k_ = options_.schedule.wrap(head_k_ + 1);
  --filled_;
  to_io_.notify_all();
}

void PrefetchLoader::seek(LoaderState state) {
  const BatchSchedule& sc = options_.schedule;
  STRATA_CHECK(state.next_sample % sc.global_batch == 0, config, options_.what, ": data position ",
               state.next_sample, " is not a multiple of train.global_batch = ", sc.global_batch,
               " (a checkpoint written with another global batch?)");
  const std::uint64_t k = sc.wrap(state.next_sample / sc.global_batch * sc.micro_batches());
  std::lock_guard<std::mutex> lk(mutex_);
  if (k != head_k_) restart_locked(k);
}

LoaderState PrefetchLoader::state() const {
  std::lock_guard<std::mutex> lk(mutex_);
  const BatchSchedule& sc = options_.schedule;
  return LoaderState{head_k_ / sc.micro_batches() * sc.global_batch};
}

LoaderStats PrefetchLoader::stats() const {
  std::lock_guard<std::mutex> lk(mutex_);
  return stats_;
}

std::string PrefetchLoader::describe() const {
  return options_.what + ": " + std::to_string(num_shards_) + " shard(s), " + std::to_string(num_tokens_) +
         " tokens, " + std::to_string(num_samples_) + " samples of " + std::to_string(options_.seq_len) + " tokens, " +
         (options_.shuffle ? "shuffled" : "in order") + ", prefetch " + std::to_string(slots_.size());
}

}  // namespace strata
