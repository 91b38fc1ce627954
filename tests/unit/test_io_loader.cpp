// test_io_loader.cpp — PrefetchLoader: the prefetched micro-batches are exactly BatchReader's, across
// epoch boundaries, seeks, reads outside the schedule and evaluation passes; global batches are the
// same samples for 1, 2 and 4 data ranks; a saved position resumes to the identical batches; start-up
// errors come from the constructor and I/O-thread errors from read(), as data Errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/hdf5_lock.h"
#include "io/prefetch_loader.h"
#include "io/sample_order.h"
#include "io/shard.h"
#include "io/token_dataset.h"
#include "kernels/error.h"
#include "tests/unit/raw_shard_writer.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

using strata::test::TempDir;
using strata::test::expect_error;

constexpr int kSeq = 8;
constexpr std::int64_t kVocab = 300;



std::int32_t token_at(std::uint64_t g) { return static_cast<std::int32_t>((g * 7 + g / 13) % kVocab); }

// Three shards (250, 1 and 180 tokens; chunks of 16): 431 tokens, 53 samples of 8 + 1 tokens.
std::vector<std::string> write_shards(const TempDir& dir) {
  std::vector<std::string> paths;
  std::uint64_t g = 0;
  for (const std::size_t n : {250, 1, 180}) {
    std::string name = "s";
    name.append(std::to_string(paths.size())).append(".h5");
    ShardWriter w(dir.file(name), kVocab, std::nullopt, 16);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) x = token_at(g++);
    w.append(t);
    w.close();
    paths.push_back(dir.file(name));
  }
  return paths;
}

struct Batch {
  std::vector<std::int32_t> inputs, targets;
  bool operator==(const Batch&) const = default;
};

// The plain, synchronous reader on this thread. A loader's I/O thread may be inside HDF5 at the same
// time, so every HDF5 call here holds hdf5_lock() (io/hdf5_lock.h), construction and destruction too.
class Reference {
 public:
  Reference(const std::vector<std::string>& paths, bool shuffle, std::uint64_t seed = 42) {
    const auto h5 = hdf5_lock();
    dataset_.emplace(paths, "data.train");
    reader_.emplace(*dataset_, kSeq, seed, shuffle);
  }
  ~Reference() {
    const auto h5 = hdf5_lock();
    reader_.reset();
    dataset_.reset();
  }
  Batch read(std::uint64_t first, std::size_t count) {
    Batch b{std::vector<std::int32_t>(count * kSeq), std::vector<std::int32_t>(count * kSeq)};
    const auto h5 = hdf5_lock();
    reader_->read(first, count, b.inputs.data(), b.targets.data());
    return b;
  }
  std::uint64_t num_samples() const { return reader_->num_samples(); }

 private:
  std::optional<TokenDataset> dataset_;
  std::optional<BatchReader> reader_;
};

Batch loader_read(PrefetchLoader& loader, std::uint64_t first, std::size_t count) {
  Batch b{std::vector<std::int32_t>(count * kSeq, -1), std::vector<std::int32_t>(count * kSeq, -1)};
  loader.read(first, count, b.inputs.data(), b.targets.data());
  return b;
}

LoaderOptions options(const std::vector<std::string>& paths, std::uint64_t g, std::uint64_t mb, std::uint64_t rank = 0,
                      std::uint64_t ranks = 1, bool shuffle = true) {
  LoaderOptions o;
  o.inputs = paths;
  o.what = "data.train";
  o.seq_len = kSeq;
  o.model_vocab = 512;
  o.seed = 42;
  o.shuffle = shuffle;
  o.schedule.global_batch = g;
  o.schedule.micro_batch = mb;
  o.schedule.data_rank = rank;
  o.schedule.data_size = ranks;
  return o;
}

}  // namespace

TEST(IoLoaderSchedule, ArithmeticFormIsTheTrainersFormula) {
  for (std::uint64_t ranks : {1, 2, 3, 4}) {
    for (std::uint64_t mb : {1, 2, 5}) {
      for (std::uint64_t m_count : {1, 2, 3}) {
        const std::uint64_t g = mb * ranks * m_count;
        for (std::uint64_t r = 0; r < ranks; ++r) {
          const BatchSchedule sc{g, mb, r, ranks, 0};
          ASSERT_NO_THROW(sc.validate());
          EXPECT_EQ(sc.micro_batches(), m_count);
          for (std::uint64_t step = 0; step < 5; ++step) {
            for (std::uint64_t m = 0; m < m_count; ++m) {
              const std::uint64_t k = step * m_count + m;
              const std::uint64_t first = micro_batch_first_sample(step, g, m, r, ranks, mb);
              EXPECT_EQ(sc.first_sample(k), first);
              EXPECT_EQ(sc.position_of(first, mb), std::optional<std::uint64_t>(k));
            }
          }
          if (ranks > 1) {
            EXPECT_FALSE(sc.position_of(((r + 1) % ranks) * mb, mb));  // another rank's read
          }
          EXPECT_FALSE(sc.position_of(r * mb, mb + 1));  // another count
        }
      }
    }
  }
  const BatchSchedule cyc{8, 2, 0, 1, 3};  // evaluation: 3 steps of 4 reads, then again from 0
  EXPECT_EQ(cyc.first_sample(11), 22u);
  EXPECT_EQ(cyc.first_sample(12), 0u);
  EXPECT_FALSE(cyc.position_of(24, 2));
  expect_error([] { BatchSchedule{10, 4, 0, 1, 0}.validate(); }, ErrorKind::config, {"global_batch", "10"});
  expect_error([] { BatchSchedule{8, 2, 2, 2, 0}.validate(); }, ErrorKind::config, {"data rank"});
}

TEST(IoLoader, PrefetchedReadsEqualBatchReaderAcrossEpochsSeeksAndOneOffs) {
  TempDir dir;
  const auto paths = write_shards(dir);
  Reference ref(paths, true);
  ASSERT_EQ(ref.num_samples(), 53u);
  for (const int depth : {1, 2, 4}) {
    LoaderOptions o = options(paths, 8, 2);
    o.depth = depth;
    PrefetchLoader loader(o);
    EXPECT_EQ(loader.num_samples(), 53u);
    EXPECT_EQ(loader.num_tokens(), 431u);
    // 20 steps of 4 micro-batches: 160 samples, three epoch boundaries (53, 106, 159).
    for (std::uint64_t step = 0; step < 20; ++step) {
      for (std::uint64_t m = 0; m < 4; ++m) {
        const std::uint64_t first = micro_batch_first_sample(step, 8, m, 0, 1, 2);
        ASSERT_EQ(loader_read(loader, first, 2), ref.read(first, 2)) << "depth " << depth << " sample " << first;
      }
      if (step == 6) {  // reads outside the schedule leave the prefetch alone
        ASSERT_EQ(loader_read(loader, 3, 5), ref.read(3, 5));
        ASSERT_EQ(loader_read(loader, 1000, 1), ref.read(1000, 1));
      }
      if (step == 11) {  // a seek far ahead and back
        ASSERT_EQ(loader_read(loader, 800, 2), ref.read(800, 2));
        ASSERT_EQ(loader_read(loader, 802, 2), ref.read(802, 2));
        ASSERT_EQ(loader_read(loader, 96, 2), ref.read(96, 2));  // step 12, micro-batch 0
        ASSERT_EQ(loader_read(loader, 98, 2), ref.read(98, 2));
        ASSERT_EQ(loader_read(loader, 100, 2), ref.read(100, 2));
        ASSERT_EQ(loader_read(loader, 102, 2), ref.read(102, 2));
        ++step;
      }
    }
    EXPECT_EQ(loader.state(), LoaderState{160});
    EXPECT_EQ(loader.epoch(), 3u);
    const LoaderStats st = loader.stats();
    EXPECT_EQ(st.reads, 20u * 4 + 2 + 2);
    EXPECT_EQ(st.one_off, 2u);
    EXPECT_EQ(st.seeks, 2u);  // to 800 and back to 96
  }
}

TEST(IoLoader, EvaluationPassesBetweenTrainingStepsRepeatTheirCycle) {
  TempDir dir;
  const auto paths = write_shards(dir);
  Reference train_ref(paths, true), valid_ref(paths, false);
  PrefetchLoader train(options(paths, 8, 4));
  LoaderOptions vo = options(paths, 8, 4, 0, 1, false);
  vo.what = "data.valid";
  vo.schedule.cycle_steps = 3;  // train.eval_steps
  PrefetchLoader valid(vo);
  const auto eval_pass = [&] {  // what Trainer::evaluate reads: eval_steps * M micro-batches from 0
    for (std::uint64_t i = 0; i < 3 * 2; ++i) ASSERT_EQ(loader_read(valid, i * 4, 4), valid_ref.read(i * 4, 4));
  };
  for (std::uint64_t step = 0; step < 9; ++step) {
    for (std::uint64_t m = 0; m < 2; ++m) {
      const std::uint64_t first = micro_batch_first_sample(step, 8, m, 0, 1, 4);
      ASSERT_EQ(loader_read(train, first, 4), train_ref.read(first, 4));
    }
    if (step % 3 == 2) eval_pass();
  }
  EXPECT_EQ(valid.stats().reads, 18u);
  EXPECT_EQ(valid.stats().seeks, 0u);  // each pass finds its first batch already prefetched
  EXPECT_EQ(train.stats().seeks, 0u);
  EXPECT_EQ(train.stats().one_off, 0u);
}

TEST(IoLoader, GlobalBatchesAreTheSameSamplesForOneTwoAndFourDataRanks) {
  TempDir dir;
  const auto paths = write_shards(dir);
  constexpr std::uint64_t g = 8, mb = 2, steps = 15;  // 120 samples: two epoch boundaries
  std::map<std::uint64_t, std::vector<Batch>> by_ranks;  // data ranks -> global batch per step
  for (const std::uint64_t ranks : {1, 2, 4}) {
    std::vector<std::unique_ptr<PrefetchLoader>> loaders;  // one per data rank, all running at once
    for (std::uint64_t r = 0; r < ranks; ++r)
      loaders.push_back(std::make_unique<PrefetchLoader>(options(paths, g, mb, r, ranks)));
    const std::uint64_t micro = g / (mb * ranks);
    for (std::uint64_t step = 0; step < steps; ++step) {
      // The ordered union over (micro-batch, rank): block m * D + r of the global batch.
      Batch global{std::vector<std::int32_t>(g * kSeq), std::vector<std::int32_t>(g * kSeq)};
      for (std::uint64_t m = 0; m < micro; ++m) {
        for (std::uint64_t r = 0; r < ranks; ++r) {
          const Batch b = loader_read(*loaders[r], micro_batch_first_sample(step, g, m, r, ranks, mb), mb);
          const std::size_t at = static_cast<std::size_t>((m * ranks + r) * mb * kSeq);
          std::copy(b.inputs.begin(), b.inputs.end(), global.inputs.begin() + static_cast<std::ptrdiff_t>(at));
          std::copy(b.targets.begin(), b.targets.end(), global.targets.begin() + static_cast<std::ptrdiff_t>(at));
        }
      }
      by_ranks[ranks].push_back(std::move(global));
    }
    for (const auto& l : loaders) EXPECT_EQ(l->stats().seeks + l->stats().one_off, 0u);
  }
  Reference ref(paths, true);
  for (std::uint64_t step = 0; step < steps; ++step) {
    EXPECT_EQ(by_ranks[1][step], ref.read(step * g, g)) << "step " << step;
    EXPECT_EQ(by_ranks[2][step], by_ranks[1][step]) << "step " << step;
    EXPECT_EQ(by_ranks[4][step], by_ranks[1][step]) << "step " << step;
  }
}

TEST(IoLoader, SavedStateMidEpochResumesToTheSameBatches) {
  TempDir dir;
  const auto paths = write_shards(dir);
  constexpr std::uint64_t g = 8, mb = 2, ranks = 2, rank = 1;
  const auto read_step = [&](PrefetchLoader& l, std::uint64_t step) {
    std::vector<Batch> out;
    for (std::uint64_t m = 0; m < 2; ++m)
      out.push_back(loader_read(l, micro_batch_first_sample(step, g, m, rank, ranks, mb), mb));
    return out;
  };
  PrefetchLoader run(options(paths, g, mb, rank, ranks));
  for (std::uint64_t step = 0; step < 5; ++step) read_step(run, step);
  const LoaderState saved = run.state();  // after 5 steps: sample 40 of the 53 of epoch 0
  EXPECT_EQ(saved, LoaderState{40});
  EXPECT_EQ(run.epoch(), 0u);

  LoaderOptions o = options(paths, g, mb, rank, ranks);
  o.start = saved;
  PrefetchLoader resumed(o);
  EXPECT_EQ(resumed.state(), saved);
  PrefetchLoader other(options(paths, g, mb, rank, ranks));  // at 0, told to move by seek()
  other.seek(saved);
  for (std::uint64_t step = 5; step < 16; ++step) {  // through the epoch boundaries at 53 and 106
    const std::vector<Batch> want = read_step(run, step);
    EXPECT_EQ(read_step(resumed, step), want) << "step " << step;
    EXPECT_EQ(read_step(other, step), want) << "step " << step;
  }
  EXPECT_EQ(resumed.state(), LoaderState{128});
  EXPECT_EQ(resumed.epoch(), 2u);
  EXPECT_EQ(resumed.stats().seeks, 0u);
  EXPECT_EQ(other.stats().seeks, 0u);

  o.start = LoaderState{44};
  expect_error([&] { PrefetchLoader bad(o); }, ErrorKind::config, {"44", "train.global_batch"});
  expect_error([&] { run.seek(LoaderState{4}); }, ErrorKind::config, {"train.global_batch"});
}

TEST(IoLoader, StartupErrorsAreThrownByTheConstructor) {
  TempDir dir;
  const auto paths = write_shards(dir);
  LoaderOptions o = options(paths, 8, 2);
  o.model_vocab = 257;
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::data, {paths[0], "model.vocab_size", "257", "300"});
  o = options(paths, 8, 2);
  o.seq_len = 431;
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::data, {"sequence longer than the data", "model.seq_len"});
  o = options({dir.file("missing.h5")}, 8, 2);
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::data, {dir.file("missing.h5")});
  o = options(paths, 8, 3);
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::config, {"train.global_batch"});
  o = options(paths, 8, 2);
  o.depth = 0;
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::config, {"prefetch depth"});
  o.depth = 2;
  o.seq_len = 0;
  expect_error([&] { PrefetchLoader l(o); }, ErrorKind::config, {"model.seq_len"});
}

TEST(IoLoader, ReadErrorsOnTheIoThreadReachTheCallerAsDataErrors) {
  TempDir dir;
  std::vector<std::int64_t> tokens(200);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int64_t>(i % 250);
  // A deflate-compressed shard whose chunk 5 (tokens 80-95) no longer decompresses.
  const std::string corrupt = dir.file("corrupt.h5");
  testing::RawShardLayout layout;
  layout.chunk = 16;
  layout.deflate = 6;
  layout.vocab_size = 300;
  testing::write_raw_shard(corrupt, tokens, layout);
  testing::corrupt_chunk(corrupt, 5);
  // An uncompressed shard with token 5000 at offset 100 (vocab_size 300).
  const std::string bad_token = dir.file("bad_token.h5");
  tokens[100] = 5000;
  layout.deflate = -1;
  testing::write_raw_shard(bad_token, tokens, layout);

  for (const auto& [path, what] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {corrupt, {corrupt, "cannot read tokens"}}, {bad_token, {bad_token, "token 5000", "offset 100"}}}) {
    // In order, 2 samples (16 + 1 tokens) per read: read k covers tokens [16k, 16k + 16].
    PrefetchLoader loader(options({path}, 2, 2, 0, 1, false));  // opens fine: only metadata is read
    for (std::uint64_t k = 0; k < 4; ++k) EXPECT_NO_THROW(loader_read(loader, 2 * k, 2)) << path << " read " << k;
    // Chunk 5 / offset 100 is in read 4 (80) or 5 (100); the error comes from the read that needs it.
    const std::uint64_t k_bad = path == corrupt ? 4 : 6;
    if (k_bad == 6) {
      EXPECT_NO_THROW(loader_read(loader, 8, 2));
      EXPECT_NO_THROW(loader_read(loader, 10, 2));
    }
    expect_error([&] { loader_read(loader, 2 * k_bad, 2); }, ErrorKind::data, what);
    expect_error([&] { loader_read(loader, 2 * k_bad, 2); }, ErrorKind::data, what);  // again: same error
    EXPECT_NO_THROW(loader_read(loader, 2 * 9, 2));  // a seek past the damage works
    EXPECT_NO_THROW(loader_read(loader, 2 * 10, 2));
    expect_error([&] { loader_read(loader, 2 * k_bad, 3); }, ErrorKind::data, what);  // outside the schedule
  }
}

TEST(IoLoader, SteadyStateReadsFindTheirDataReady) {
  TempDir dir;
  const auto paths = write_shards(dir);
  PrefetchLoader loader(options(paths, 8, 2));
  for (std::uint64_t k = 0; k < 12; ++k) {
    loader_read(loader, 2 * k, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // "compute": the I/O thread reads ahead
  }
  const LoaderStats st = loader.stats();
  std::printf("loader: %llu reads, %llu waited, %.3f ms waiting\n", static_cast<unsigned long long>(st.reads),
              static_cast<unsigned long long>(st.waited), st.wait_seconds * 1e3);
  EXPECT_LE(st.waited, 2u);  // the first read (and, on a very loaded machine, perhaps one more)
}

TEST(IoLoader, DestructionWhilePrefetchingOrAfterAnErrorReturns) {
  TempDir dir;
  const auto paths = write_shards(dir);
  for (int i = 0; i < 20; ++i) {
    LoaderOptions o = options(paths, 8, 2);
    o.depth = 1 + i % 4;
    PrefetchLoader loader(o);
    if (i % 2) loader_read(loader, 2, 2);  // a seek: prefetch restarts while the destructor may run
  }
  std::vector<std::int64_t> tokens(100, 1);
  tokens[50] = 999;
  testing::RawShardLayout layout;
  layout.vocab_size = 300;
  testing::write_raw_shard(dir.file("bad.h5"), tokens, layout);
  PrefetchLoader loader(options({dir.file("bad.h5")}, 8, 8, 0, 1, false));
  expect_error([&] { loader_read(loader, 0, 8); }, ErrorKind::data, {"token 999"});
}

}  // namespace strata
