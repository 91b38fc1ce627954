// The parallel checkpoint writer (io/checkpoint_write.h) over the groups' file-I/O communicator: every
// rank writes its rectangles of three datasets with parallel HDF5, collective and independent transfers,
// from a background thread (as an async save does), with different numbers of rectangles per rank (ranks with none join with empty
// selections); then every rank reads the whole file back and finds the closed-form values. A rectangle
// outside its dataset on one rank fails on every rank, naming that rank, and nothing hangs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint_file.h"
#include "io/checkpoint_write.h"
#include "kernels/error.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata {
namespace {

float value(int dataset, int64_t i) { return static_cast<float>(dataset * 1000 + i) + 0.25f; }

// A fresh directory named by rank 0, the same on every rank.
std::string shared_temp_dir() {
  std::vector<char> name(256, 0);
  if (test::world_rank() == 0) {
    std::string t = (std::filesystem::temp_directory_path() / "strata_ckpt_write_XXXXXX").string();
    EXPECT_NE(::mkdtemp(t.data()), nullptr);
    t.copy(name.data(), name.size() - 1);
  }
  MPI_Bcast(name.data(), static_cast<int>(name.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  return std::string(name.data());
}

struct Fixture {
  std::string dir, file;
  std::vector<CheckpointDatasetSpec> specs = {{"params/a", {7, 5}}, {"exp_avg/b", {9}}, {"exp_avg_sq/c", {3, 4}}};
  Fixture() : dir(shared_temp_dir()), file(dir + "/state.h5") {
    if (test::world_rank() == 0) create_checkpoint_file(file, CheckpointMeta{}, specs);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  ~Fixture() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (test::world_rank() == 0) std::filesystem::remove_all(dir);
  }
};

// Rows [first, first + count) of a split of n rows over the ranks, as even as possible (some ranks get
// none when there are more ranks than rows).
void share(int64_t n, int64_t* first, int64_t* count) {
  const int64_t r = test::world_rank(), p = test::world_size();
  *first = n * r / p;
  *count = n * (r + 1) / p - *first;
}

class CheckpointWriteTransfers : public ::testing::TestWithParam<CheckpointTransfer> {};

TEST_P(CheckpointWriteTransfers, EveryRankWritesItsRectanglesFromABackgroundThread) {
  int level = 0;
  MPI_Query_thread(&level);
  ASSERT_EQ(level, MPI_THREAD_MULTIPLE);
  const ParallelGroups groups =
      make_mpi_groups(Topology(test::world_size(), test::world_rank(), 1, 1, "tp,dp,pp"));
  ASSERT_NE(groups.io(), MPI_COMM_NULL);
  Fixture fx;
  // a (7 x 5): this rank's rows. b (9): this rank's elements. c (3 x 4): the last rank writes it as three
  // rectangles (three rounds of which the others join with empty selections).
  std::vector<std::vector<float>> data(5);
  std::vector<CheckpointWrite> writes;
  int64_t first = 0, count = 0;
  share(7, &first, &count);
  for (int64_t i = first * 5; i < (first + count) * 5; ++i) data[0].push_back(value(0, i));
  writes.push_back({0, 5, {first, count, 0, 5}, data[0].data()});
  share(9, &first, &count);
  for (int64_t i = first; i < first + count; ++i) data[1].push_back(value(1, i));
  writes.push_back({1, 1, {first, count, 0, 1}, data[1].data()});
  if (test::world_rank() == test::world_size() - 1) {
    const CheckpointRect rects[3] = {{0, 3, 0, 1}, {0, 2, 1, 3}, {2, 1, 1, 3}};
    for (int k = 0; k < 3; ++k) {
      for (int64_t r = rects[k].row; r < rects[k].row + rects[k].rows; ++r)
        for (int64_t c = rects[k].col; c < rects[k].col + rects[k].cols; ++c) data[2 + k].push_back(value(2, r * 4 + c));
      writes.push_back({2, 4, rects[k], data[2 + k].data()});
    }
  }
  std::string error;
  std::thread writer([&] {
    try {
      write_checkpoint_data(groups.io(), fx.file, fx.specs, writes, GetParam());
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  writer.join();
  ASSERT_EQ(error, "");
  MPI_Barrier(MPI_COMM_WORLD);
  const CheckpointReader reader(fx.dir);
  for (int d = 0; d < 3; ++d) {
    const std::vector<int64_t>& s = fx.specs[static_cast<std::size_t>(d)].shape;
    const CheckpointRect all{0, s[0], 0, checkpoint_cols(s)};
    std::vector<float> got(static_cast<std::size_t>(all.count()));
    reader.read(fx.specs[static_cast<std::size_t>(d)].path, all, got.data());
    for (int64_t i = 0; i < all.count(); ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], value(d, i)) << d << " " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(CheckpointWrite, CheckpointWriteTransfers,
                         ::testing::Values(CheckpointTransfer::collective, CheckpointTransfer::independent),
                         [](const ::testing::TestParamInfo<CheckpointTransfer>& p) {
                           return p.param == CheckpointTransfer::collective ? "collective" : "independent";
                         });

TEST(CheckpointWrite, ABadRectangleOnOneRankFailsOnEveryRankNamingIt) {
  const ParallelGroups groups =
      make_mpi_groups(Topology(test::world_size(), test::world_rank(), 1, 1, "tp,dp,pp"));
  Fixture fx;
  const int bad = test::world_size() - 1;
  std::vector<float> row(5, 1.0f);
  // Every rank writes row 0 of a, except the bad rank: row 7, one past the end.
  const std::vector<CheckpointWrite> writes = {{0, 5, {test::world_rank() == bad ? 7 : 0, 1, 0, 5}, row.data()}};
  try {
    write_checkpoint_data(groups.io(), fx.file, fx.specs, writes);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(fx.file), std::string::npos) << what;
    if (test::world_rank() == bad) {
      EXPECT_NE(what.find("rank " + std::to_string(bad)), std::string::npos) << what;
      EXPECT_NE(what.find("params/a"), std::string::npos) << what;
    } else {
      EXPECT_NE(what.find("another rank"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace strata
