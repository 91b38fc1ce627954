// prefetch_loader.h — the streaming data loader: a TokenDataset + BatchReader living on a background
// I/O thread that reads the micro-batches a data rank will ask for next into a small ring of buffers,
// so that in steady state read() only copies a ready buffer and the training loop never waits on I/O.
//
// Rules:
//  * Every HDF5 call of the loader's dataset (open, reads, close) happens on its I/O thread, under
//    the process-wide hdf5_lock() (io/hdf5_lock.h): HDF5 is not thread-safe here.
//  * The constructor returns only when the dataset is open and checked (shard format, one vocabulary,
//    vocab_size <= model vocabulary, at least seq_len + 1 tokens, a valid schedule): start-up errors
//    are thrown from the constructor, in the calling thread, before any training step.
//  * Errors on the I/O thread (a corrupt chunk, a token outside the vocabulary) are thrown from the
//    read() that asks for the affected micro-batch, as the original exception (strata::Error keeps its
//    kind); the I/O thread never terminates the process.
//  * Samples are a pure function of their global index (sample_order.h), so a prefetched buffer is
//    never stale: a read that is not the next one expected only changes what is prefetched next.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace strata {

// The loader's position, which checkpoints save: the global sample index of the first sample of the
// next global batch (step * global_batch). The epoch is next_sample / samples per epoch.
struct LoaderState {
  std::uint64_t next_sample = 0;
  bool operator==(const LoaderState&) const = default;
};

// The reads one data rank makes, in order (Trainer::step, sample_order.h). Read k (k = 0, 1, ...) is
// micro-batch m = k % M of step s = k / M, with M = global_batch / (micro_batch * data_size); it takes
// micro_batch samples from micro_batch_first_sample(s, G, m, r, D, mb) = r*mb + k*D*mb. Since
// M*D*mb = G the reads form one arithmetic sequence of stride D*mb across step boundaries.
// With cycle_steps > 0 the sequence repeats after cycle_steps steps: evaluation passes, which each
// restart at the beginning of the validation data.
//
// Example: G = 8, mb = 2, D = 2 (M = 2). Rank 0 reads samples 0-1, 4-5 (step 0), 8-9, 12-13 (step 1),
// ...; rank 1 reads 2-3, 6-7, 10-11, 14-15, ...
struct BatchSchedule {
  std::uint64_t global_batch = 1;  // G
  std::uint64_t micro_batch = 1;   // mb
  std::uint64_t data_rank = 0;     // r
  std::uint64_t data_size = 1;     // D
  std::uint64_t cycle_steps = 0;   // 0: endless

  // Error (config) unless G, mb, D > 0, r < D and mb * D divides G.
  void validate() const;
  std::uint64_t micro_batches() const { return global_batch / (micro_batch * data_size); }  // M
  std::uint64_t stride() const { return micro_batch * data_size; }
  // First sample of read k (k taken modulo the cycle).
  std::uint64_t first_sample(std::uint64_t k) const;
  // k (within the cycle) of the read asking for `count` samples from `first`; nullopt when no read of
  // the schedule does.
  std::optional<std::uint64_t> position_of(std::uint64_t first, std::size_t count) const;
  std::uint64_t wrap(std::uint64_t k) const { return cycle_steps > 0 ? k % (cycle_steps * micro_batches()) : k; }
};

// What the consumer saw: how often it had to wait and for how long.
struct LoaderStats {
  std::uint64_t reads = 0;    // read() calls
  std::uint64_t waited = 0;   // reads whose data was not ready yet (first read, seeks, I/O slower than use)
  std::uint64_t seeks = 0;    // reads of another position of the schedule: prefetch restarted there
  std::uint64_t one_off = 0;  // reads outside the schedule, served directly by the I/O thread
  double wait_seconds = 0.0;  // time read() spent blocked on the I/O thread
};

struct LoaderOptions {
  std::vector<std::string> inputs;  // shard files, directories of *.h5, globs (expand_shard_paths)
  std::string what = "data";        // names the source in messages: "data.train", "data.valid"
  int seq_len = 0;                  // model.seq_len
  std::int64_t model_vocab = 0;     // model.vocab_size: the shards' vocab_size must not exceed it
  std::uint64_t seed = 0;           // train.seed (sample permutation)
  bool shuffle = true;
  BatchSchedule schedule;
  LoaderState start;                // where the first read is expected (a multiple of global_batch)
  int depth = 3;                    // ring buffers: micro-batches read ahead (1..16)
};

class PrefetchLoader {
 public:
  // Opens the dataset on a new I/O thread and starts prefetching at `options.start`. Throws the
  // start-up errors (see the rules above): Error data for the data, Error config for a bad schedule,
  // depth, seq_len or a start that is not a multiple of global_batch.
  explicit PrefetchLoader(LoaderOptions options);
  ~PrefetchLoader();  // stops and joins the I/O thread (after at most the micro-batch it is reading)
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  // Global samples [first, first + count) into inputs and targets, each (count, seq_len) row-major,
  // exactly what BatchReader::read gives. The next read of the schedule returns a prefetched buffer;
  // another read of the schedule restarts the prefetch there (a seek); a read outside the schedule is
  // served directly and leaves the prefetch as it was. Call from one thread at a time.
  void read(std::uint64_t first, std::size_t count, std::int32_t* inputs, std::int32_t* targets);

  // Restarts the prefetch at `state` (resume from a checkpoint); Error config when state.next_sample
  // is not a multiple of global_batch.
  void seek(LoaderState state);

  // Position of the next expected read, rounded down to its global batch (between steps: the step
  // about to run times global_batch). With a cycle, the position within the cycle.
  LoaderState state() const;
  std::uint64_t epoch() const { return state().next_sample / num_samples_; }
  LoaderStats stats() const;

  const BatchSchedule& schedule() const { return options_.schedule; }
  std::uint64_t num_tokens() const { return num_tokens_; }
  std::uint64_t num_samples() const { return num_samples_; }  // per epoch
  std::size_t num_shards() const { return num_shards_; }
  std::int64_t vocab_size() const { return vocab_size_; }    // the shards'
  int seq_len() const { return options_.seq_len; }
  // "data.train: 3 shards, 120000 tokens, 7499 samples of 16 tokens, shuffled, prefetch 3"
  std::string describe() const;

 private:
  struct Slot {
    std::vector<std::int32_t> inputs, targets;  // (mb, seq_len)
    std::exception_ptr error;
  };
  struct OneOff {
    std::uint64_t first;
    std::size_t count;
    std::int32_t *inputs, *targets;
  };
  class Io;  // the I/O thread's dataset and reader

  void io_main();
  void io_loop();
  void restart_locked(std::uint64_t k);

  LoaderOptions options_;
  std::uint64_t num_tokens_ = 0, num_samples_ = 0;
  std::size_t num_shards_ = 0;
  std::int64_t vocab_size_ = 0;

  mutable std::mutex mutex_;         // guards everything below; the thread is started last
  std::condition_variable to_io_;    // work for the I/O thread: a free slot, a one-off, stop
  std::condition_variable to_user_;  // for read() and the constructor: a slot filled, one-off done, opened
  std::vector<Slot> slots_;          // ring of `depth`; slot (head_ + i) % depth holds read head_k_ + i
  std::size_t head_ = 0;             // ring index of the next expected read
  std::size_t filled_ = 0;           // slots ready from head_ on
  std::uint64_t head_k_ = 0;         // schedule position of the next expected read (wrapped)
  std::uint64_t generation_ = 0;     // bumped by every restart: reads begun before it are discarded
  bool stalled_ = false;             // an error was stored in a slot: read no further until a restart
  std::optional<OneOff> one_off_;
  bool one_off_done_ = false;
  std::exception_ptr one_off_error_;
  bool opened_ = false, stop_ = false;
  std::exception_ptr open_error_;
  std::exception_ptr fatal_;  // the I/O thread ended on an error outside a read
  LoaderStats stats_;
  std::thread thread_;
};

}  // namespace strata
