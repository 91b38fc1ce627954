// test_io_sample_order.cpp — the global sample order (a keyed permutation per epoch) and batch
// reading: permutation property, epoch/seed dependence, and identical coverage for every
// data-parallel size.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "io/sample_order.h"
#include "io/shard.h"
#include "io/token_dataset.h"
#include "kernels/error.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using strata::test::TempDir;
using strata::test::shard_name;
using strata::test::expect_error;



// Shards holding tokens 0, 1, 2, ..., n-1 split into pieces of `per_shard` tokens.
std::vector<std::string> counting_shards(const TempDir& dir, std::size_t n, std::size_t per_shard) {
  std::vector<std::string> paths;
  for (std::size_t start = 0, i = 0; start < n; start += per_shard, ++i) {
    std::vector<std::int32_t> t;
    for (std::size_t k = start; k < std::min(n, start + per_shard); ++k) t.push_back(static_cast<std::int32_t>(k));
    paths.push_back(dir.file(shard_name(i)));
    ShardWriter w(paths.back(), 1 << 20, std::nullopt);
    w.append(t);
    w.close();
  }
  return paths;
}

std::vector<std::uint64_t> epoch_order(const SampleOrder& order, std::uint64_t epoch) {
  std::vector<std::uint64_t> out;
  const std::uint64_t s = order.num_samples();
  for (std::uint64_t k = epoch * s; k < (epoch + 1) * s; ++k) out.push_back(order.sample(k));
  return out;
}

}  // namespace

TEST(IoSampleOrder, EveryEpochIsAPermutation) {
  for (std::uint64_t s : {1, 2, 3, 4, 5, 7, 16, 17, 100, 1000, 4097}) {
    for (std::uint64_t seed : {0, 1, 1234}) {
      const SampleOrder order(s, seed, /*shuffle=*/true);
      for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
        std::vector<std::uint64_t> seen = epoch_order(order, epoch);
        std::sort(seen.begin(), seen.end());
        for (std::uint64_t i = 0; i < s; ++i)
          ASSERT_EQ(seen[i], i) << "S=" << s << " seed=" << seed << " epoch=" << epoch;
      }
    }
  }
}

TEST(IoSampleOrder, DependsOnEpochAndSeedOnly) {
  const SampleOrder a(1000, 42, true), same(1000, 42, true), other_seed(1000, 43, true);
  EXPECT_EQ(epoch_order(a, 0), epoch_order(same, 0));
  EXPECT_NE(epoch_order(a, 0), epoch_order(a, 1));
  EXPECT_NE(epoch_order(a, 0), epoch_order(other_seed, 0));
  std::vector<std::uint64_t> identity(1000);
  for (std::uint64_t i = 0; i < 1000; ++i) identity[i] = i;
  EXPECT_NE(epoch_order(a, 0), identity);
  // Shuffled enough: few fixed points (about 1 expected for a random permutation).
  const auto e0 = epoch_order(a, 0);
  int fixed = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) fixed += e0[i] == i;
  EXPECT_LT(fixed, 10);
}

TEST(IoSampleOrder, IdentityWithoutShuffle) {
  const SampleOrder order(7, 99, /*shuffle=*/false);
  for (std::uint64_t k = 0; k < 30; ++k) EXPECT_EQ(order.sample(k), k % 7);
  EXPECT_EQ(order.epoch(20), 2u);
}

TEST(IoSampleOrder, ScalesToABillionSamples) {
  const std::uint64_t s = 1'000'000'007;
  const SampleOrder order(s, 5, true);
  std::set<std::uint64_t> seen;
  for (std::uint64_t k = 0; k < 10000; ++k) {
    const std::uint64_t x = order.sample(3 * s + k);
    ASSERT_LT(x, s);
    seen.insert(x);
  }
  EXPECT_EQ(seen.size(), 10000u);  // distinct: it is a permutation
}

TEST(IoSampleOrder, BatchReaderReadsShiftedTargets) {
  TempDir dir;
  const TokenDataset ds(counting_shards(dir, 1000, 137), "data.train");
  const BatchReader reader(ds, 8, 1234, true);
  EXPECT_EQ(reader.num_samples(), (1000u - 1) / 8);
  const std::size_t count = 5;
  std::vector<std::int32_t> in(count * 8), tgt(count * 8);
  reader.read(100, count, in.data(), tgt.data());
  for (std::size_t j = 0; j < count; ++j) {
    const auto s = static_cast<std::int32_t>(reader.order().sample(100 + j));
    for (std::size_t t = 0; t < 8; ++t) {
      EXPECT_EQ(in[j * 8 + t], s * 8 + static_cast<std::int32_t>(t));
      EXPECT_EQ(tgt[j * 8 + t], s * 8 + static_cast<std::int32_t>(t) + 1);
    }
  }
  // The last sample ends exactly at the last usable token: 124 samples of 8 use tokens [0, 993).
  const BatchReader plain(ds, 8, 0, false);
  reader.read(0, 0, in.data(), tgt.data());
  plain.read(123, 1, in.data(), tgt.data());
  EXPECT_EQ(tgt[7], 992);
}

TEST(IoSampleOrder, DataParallelSizesCoverTheSameSamples) {
  TempDir dir;
  const TokenDataset ds(counting_shards(dir, 4000, 1000), "data.train");
  const int seq_len = 16;
  const BatchReader reader(ds, seq_len, 7, true);
  const std::uint64_t global_batch = 8, micro_batch = 2;
  for (std::uint64_t batch : {0, 1, 30, 31}) {  // 249 samples per epoch: batch 31 crosses into epoch 1
    std::multiset<std::int32_t> reference;
    for (std::uint64_t data_size : {1, 2, 4}) {
      std::multiset<std::int32_t> firsts;  // first input token of each sample read, by any rank
      const std::uint64_t micros = global_batch / (micro_batch * data_size);
      for (std::uint64_t rank = 0; rank < data_size; ++rank) {
        for (std::uint64_t m = 0; m < micros; ++m) {
          std::vector<std::int32_t> in(micro_batch * seq_len), tgt(micro_batch * seq_len);
          reader.read(micro_batch_first_sample(batch, global_batch, m, rank, data_size, micro_batch), micro_batch,
                      in.data(), tgt.data());
          for (std::uint64_t j = 0; j < micro_batch; ++j) firsts.insert(in[j * seq_len]);
        }
      }
      if (data_size == 1) {
        reference = firsts;
        std::multiset<std::int32_t> expected;
        for (std::uint64_t k = batch * global_batch; k < (batch + 1) * global_batch; ++k)
          expected.insert(static_cast<std::int32_t>(reader.order().sample(k) * seq_len));
        EXPECT_EQ(firsts, expected);
      }
      EXPECT_EQ(firsts, reference) << "batch " << batch << ", data-parallel size " << data_size;
    }
  }
}

TEST(IoSampleOrder, SequenceLongerThanTheDataIsADataError) {
  TempDir dir;
  const std::vector<std::string> paths = counting_shards(dir, 64, 64);
  const TokenDataset ds(paths, "data.train");
  EXPECT_NO_THROW(BatchReader(ds, 63, 0, true));  // 64 tokens: exactly one sample of 63
  try {
    BatchReader r(ds, 64, 0, true);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    const std::string m = e.what();
    for (const std::string& p : {std::string("model.seq_len = 64"), std::string("64 tokens"), paths[0],
                                 std::string("longer than the data")})
      EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
  }
}
