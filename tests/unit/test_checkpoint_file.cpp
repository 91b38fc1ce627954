// Unit tests of the checkpoint file format (io/checkpoint_file.h): whole-checkpoint round trip, the
// composable checksum, rectangles written in place by pieces, corruption and version checks, latest and
// the step directories.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "io/checkpoint_file.h"
#include "io/checkpoint_write.h"
#include "test_util.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

CheckpointTensor random_tensor(const std::string& name, std::vector<int64_t> shape, uint32_t seed) {
  CheckpointTensor t{name, shape, {}};
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) t.data.push_back(dist(rng));
  return t;
}

CheckpointContents sample_contents(int64_t step) {
  CheckpointContents c;
  c.step = step;
  c.tokens = step * 1000;
  c.loader_next_sample = static_cast<uint64_t>(step) * 8;
  c.seed = 1234;
  c.lr = 3e-4;
  c.config_ini = "[model]\nlayers = 1\n";
  c.layout = "tensor=1 pipeline=1 data=1 zero=1";
  uint32_t seed = 1;
  for (auto* list : {&c.params, &c.exp_avg, &c.exp_avg_sq}) {
    list->push_back(random_tensor("wte.weight", {7, 5}, seed++));
    list->push_back(random_tensor("h.0.ln_1.bias", {5}, seed++));
    list->push_back(random_tensor("h.10.attn.c_attn.weight", {15, 5}, seed++));
  }
  return c;
}

void expect_same(const std::vector<CheckpointTensor>& a, const std::vector<CheckpointTensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].shape, b[i].shape);
    EXPECT_EQ(0, std::memcmp(a[i].data.data(), b[i].data.data(), a[i].data.size() * sizeof(float))) << a[i].name;
  }
}

TEST(CheckpointFile, WholeCheckpointRoundTripKeepsOrderAndBits) {
  TempDir dir;
  const CheckpointContents c = sample_contents(7);
  write_checkpoint(dir.path().string(), c);
  const std::string step_dir = (dir.path() / "step_00000007").string();
  EXPECT_EQ(resolve_checkpoint(dir.path().string()), step_dir);
  EXPECT_EQ(resolve_checkpoint(step_dir), step_dir);
  for (const std::string& from : {dir.path().string(), step_dir}) {
    const CheckpointContents r = read_checkpoint(from);
    EXPECT_EQ(r.format_version, kCheckpointFormatVersion);
    EXPECT_EQ(r.step, 7);
    EXPECT_EQ(r.tokens, 7000);
    EXPECT_EQ(r.loader_next_sample, 56u);
    EXPECT_EQ(r.seed, 1234u);
    EXPECT_EQ(r.lr, 3e-4);
    EXPECT_EQ(r.config_ini, c.config_ini);
    EXPECT_EQ(r.layout, c.layout);
    expect_same(r.params, c.params);  // creation order, not name order (h.10 after h.0, wte first)
    expect_same(r.exp_avg, c.exp_avg);
    expect_same(r.exp_avg_sq, c.exp_avg_sq);
  }
  EXPECT_FALSE(fs::exists(dir.path() / ".tmp_step_00000007"));
}

TEST(CheckpointFile, ChecksumIsASumOverAnyPartitionAndSeesEveryChange) {
  const CheckpointTensor t = random_tensor("x", {6, 8}, 5);
  const CheckpointRect all{0, 6, 0, 8};
  const uint64_t whole = checkpoint_rect_checksum(t.data.data(), all, 8);
  EXPECT_EQ(whole, checkpoint_checksum(t.data.data(), 48));
  // Rows 0-1 whole, then rows 2-5 split in columns [0, 3) and [3, 8): the pieces sum to the whole.
  auto piece = [&](CheckpointRect r) {
    std::vector<float> buf;
    for (int64_t i = 0; i < r.rows; ++i)
      for (int64_t j = 0; j < r.cols; ++j) buf.push_back(t.data[(r.row + i) * 8 + r.col + j]);
    return checkpoint_rect_checksum(buf.data(), r, 8);
  };
  EXPECT_EQ(piece({0, 2, 0, 8}) + piece({2, 4, 0, 3}) + piece({2, 4, 3, 5}), whole);
  std::vector<float> changed = t.data;
  changed[17] = std::nextafter(changed[17], 10.0f);
  EXPECT_NE(checkpoint_checksum(changed.data(), 48), whole);
  changed = t.data;
  std::swap(changed[3], changed[40]);
  EXPECT_NE(checkpoint_checksum(changed.data(), 48), whole);
}

// The parallel path's building blocks, used from one process: rectangles written in place by pieces,
// then one element overwritten after the checksums were stored.
TEST(CheckpointFile, PiecesWrittenInPlaceAndCorruptionNamed) {
  TempDir dir;
  const CheckpointTensor t = random_tensor("h.0.mlp.c_fc.weight", {4, 6}, 9);
  std::vector<CheckpointDatasetSpec> specs;
  for (const char* g : kCheckpointGroups) specs.push_back({std::string(g) + "/" + t.name, t.shape});
  CheckpointMeta meta;
  meta.step = 3;
  const std::string file = prepare_checkpoint_temp_dir(dir.path().string(), 3) + "/" + kCheckpointStateFile;
  create_checkpoint_file(file, meta, specs);
  // Columns [0, 2) of every row, then columns [2, 6), as two ranks of a column split would write them.
  std::vector<float> left, right;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) (c < 2 ? left : right).push_back(t.data[r * 6 + c]);
  std::vector<CheckpointWrite> writes;
  std::vector<uint64_t> sums(3, 0);
  for (int g = 0; g < 3; ++g) {
    writes.push_back({g, 6, {0, 4, 0, 2}, left.data()});
    writes.push_back({g, 6, {0, 4, 2, 4}, right.data()});
    sums[g] = checkpoint_rect_checksum(left.data(), {0, 4, 0, 2}, 6) + checkpoint_rect_checksum(right.data(), {0, 4, 2, 4}, 6);
  }
  write_checkpoint_data(MPI_COMM_NULL, file, specs, writes);
  set_checkpoint_checksums(file, specs, sums);
  EXPECT_FALSE(fs::exists(dir.path() / "step_00000003"));  // not committed yet
  commit_checkpoint_dir(dir.path().string(), 3, 2);
  const CheckpointContents r = read_checkpoint(dir.path().string());
  expect_same(r.params, {t});
  expect_same(r.exp_avg_sq, {t});
  // One float of exp_avg changed in place: the load names the file and the dataset.
  const float bad = 42.0f;
  write_checkpoint_data(MPI_COMM_NULL, (dir.path() / "step_00000003" / kCheckpointStateFile).string(), specs,
                        {{1, 6, {2, 1, 5, 1}, &bad}});
  expect_error([&] { read_checkpoint(dir.path().string()); }, ErrorKind::data,
               {"step_00000003/state.h5", "exp_avg/h.0.mlp.c_fc.weight", "checksum mismatch"});
}

TEST(CheckpointFile, UnknownFormatVersionAndMissingCheckpointsAreDataErrors) {
  TempDir dir;
  CheckpointContents c = sample_contents(1);
  c.format_version = kCheckpointFormatVersion + 1;
  write_checkpoint(dir.path().string(), c);
  expect_error([&] { read_checkpoint(dir.path().string()); }, ErrorKind::data,
               {"state.h5", "unknown checkpoint format version 2"});
  TempDir empty;
  expect_error([&] { resolve_checkpoint(empty.path().string()); }, ErrorKind::data, {"no checkpoint at"});
  fs::remove(dir.path() / "step_00000001" / kCheckpointStateFile);
  expect_error([&] { read_checkpoint((dir.path() / "step_00000001").string()); }, ErrorKind::data,
               {"step_00000001", "state.h5"});
  test::TempDir bad_latest;
  bad_latest.write("latest", "step_00000009\n");
  expect_error([&] { resolve_checkpoint(bad_latest.path().string()); }, ErrorKind::data,
               {"latest", "names step_00000009, which is missing"});
}

TEST(CheckpointFile, LatestNamesTheNewestAndKeepPrunesOlderOnes) {
  TempDir dir;
  for (int64_t step : {2, 4, 6}) write_checkpoint(dir.path().string(), sample_contents(step));
  EXPECT_EQ(list_checkpoints(dir.path().string()),
            (std::vector<std::string>{"step_00000006", "step_00000004", "step_00000002"}));
  EXPECT_EQ(*latest_checkpoint(dir.path().string()), (dir.path() / "step_00000006").string());
  // A save with keep 2 leaves itself and the one before it.
  prepare_checkpoint_temp_dir(dir.path().string(), 8);
  create_checkpoint_file(checkpoint_temp_dir(dir.path().string(), 8) + "/" + kCheckpointStateFile, CheckpointMeta{}, {});
  commit_checkpoint_dir(dir.path().string(), 8, 2);
  EXPECT_EQ(list_checkpoints(dir.path().string()), (std::vector<std::string>{"step_00000008", "step_00000006"}));
  EXPECT_EQ(*latest_checkpoint(dir.path().string()), (dir.path() / "step_00000008").string());
  // The older ones are retired (renamed aside, quick) and deleted later (the trainer: in the background).
  EXPECT_TRUE(fs::exists(dir.path() / ".trash_step_00000004" / kCheckpointStateFile));
  EXPECT_TRUE(fs::exists(dir.path() / ".trash_step_00000002"));
  remove_checkpoint_trash(dir.path().string());
  EXPECT_FALSE(fs::exists(dir.path() / ".trash_step_00000004"));
  EXPECT_FALSE(fs::exists(dir.path() / ".trash_step_00000002"));
  EXPECT_TRUE(fs::exists(dir.path() / "step_00000006" / kCheckpointStateFile));
  // A leftover temporary directory of a crashed save is never taken for a checkpoint.
  fs::create_directories(dir.path() / ".tmp_step_00000010");
  EXPECT_EQ(list_checkpoints(dir.path().string()).front(), "step_00000008");
}

}  // namespace
}  // namespace strata
