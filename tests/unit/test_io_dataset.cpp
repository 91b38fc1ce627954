// test_io_dataset.cpp — TokenDataset: one token stream over many shards, reads across shard
// boundaries, path expansion order, and vocabulary checks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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




// Writes a shard holding tokens first, first+1, ... (mod vocab).
std::string write_shard(const std::string& path, std::size_t n, std::int64_t first, std::int64_t vocab = 70000) {
  std::vector<std::int32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int32_t>((first + static_cast<std::int64_t>(i)) % vocab);
  ShardWriter w(path, vocab, std::nullopt, 4);
  w.append(t);
  w.close();
  return path;
}

}  // namespace

TEST(IoDataset, ReadsSpanShardBoundaries) {
  TempDir dir;
  const std::vector<std::size_t> sizes{10, 0, 7, 1, 5};  // an empty shard and a 1-token shard
  std::vector<std::string> paths;
  std::int64_t first = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    paths.push_back(write_shard(dir.file(shard_name(i)), sizes[i], first));
    first += static_cast<std::int64_t>(sizes[i]);
  }
  const TokenDataset ds(paths, "data.train");
  EXPECT_EQ(ds.num_tokens(), 23u);
  EXPECT_EQ(ds.num_shards(), 5u);
  EXPECT_EQ(ds.vocab_size(), 70000);
  EXPECT_EQ(ds.shard_offset(2), 10u);
  for (std::uint64_t off = 0; off <= 23; ++off) {
    for (std::size_t count = 0; off + count <= 23; ++count) {
      std::vector<std::int32_t> got(count, -1);
      ds.read(off, count, got.data());
      for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(got[i], static_cast<std::int32_t>(off + i)) << off << "+" << i;
    }
  }
  std::int32_t x;
  expect_error([&] { ds.read(23, 1, &x); }, ErrorKind::internal, {"data.train"});
}

TEST(IoDataset, ExpandsDirectoriesAndGlobsInSortedOrder) {
  TempDir dir;
  fs::create_directories(dir.file("d"));
  write_shard(dir.file("d/b.h5"), 3, 3);
  write_shard(dir.file("d/a.h5"), 3, 0);
  write_shard(dir.file("d/c.h5"), 3, 6);
  std::ofstream(dir.file("d/notes.txt")) << "not a shard";
  std::ofstream(dir.file("d/d.h5.tmp")) << "a partial shard";
  for (const std::string& input : {dir.file("d"), dir.file("d/*.h5")}) {
    const TokenDataset ds({input});
    ASSERT_EQ(ds.num_shards(), 3u) << input;
    EXPECT_EQ(ds.shard(0).path(), dir.file("d/a.h5"));
    std::vector<std::int32_t> all(9);
    ds.read(0, 9, all.data());
    EXPECT_EQ(all, (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  }
  // Inputs keep their order; each input's expansion is sorted.
  const TokenDataset ordered({dir.file("d/c.h5"), dir.file("d/[ab].h5")});
  EXPECT_EQ(ordered.shard(0).path(), dir.file("d/c.h5"));
  EXPECT_EQ(ordered.shard(1).path(), dir.file("d/a.h5"));

  expect_error([&] { TokenDataset ds({dir.file("d/zzz*.h5")}, "data.valid"); }, ErrorKind::data,
               {"data.valid", dir.file("d/zzz*.h5")});
  expect_error([&] { TokenDataset ds({dir.file("missing.h5")}, "data.train"); }, ErrorKind::data,
               {"data.train", dir.file("missing.h5")});
  fs::create_directories(dir.file("empty"));
  expect_error([&] { TokenDataset ds({dir.file("empty")}); }, ErrorKind::data, {dir.file("empty"), "*.h5"});
  expect_error([&] { TokenDataset ds({}); }, ErrorKind::data, {"no shard"});
}

TEST(IoDataset, VocabularyChecks) {
  TempDir dir;
  const std::string a = write_shard(dir.file("a.h5"), 10, 0, 300);
  const std::string b = write_shard(dir.file("b.h5"), 10, 0, 400);
  expect_error([&] { TokenDataset ds({a, b}, "data.train"); }, ErrorKind::data, {a, b, "300", "400", "vocab_size"});

  const TokenDataset ds({a});
  EXPECT_NO_THROW(ds.check_model_vocab(300));
  EXPECT_NO_THROW(ds.check_model_vocab(50304));  // a padded model vocabulary is fine
  expect_error([&] { ds.check_model_vocab(257); }, ErrorKind::data, {a, "model.vocab_size", "257", "300"});
}

TEST(IoDataset, EmptyDatasetIsAnError) {
  TempDir dir;
  const std::string a = write_shard(dir.file("a.h5"), 0, 0);
  const std::string b = write_shard(dir.file("b.h5"), 0, 0);
  expect_error([&] { TokenDataset ds({a, b}, "data.train"); }, ErrorKind::data, {"data.train", a, "no tokens"});
}
