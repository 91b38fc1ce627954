// Stopping early: the signal flag (a real SIGUSR1/SIGTERM to this process), the step-boundary decision
// agreed through the all-reduce (a rank that saw nothing stops when another rank did), the wall-clock
// budget with its reserve, the train.max_minutes key, and the start-up launch report.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <string>

#include "src/config.h"
#include "src/launch_report.h"
#include "src/stop_signals.h"
#include "test_util.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

class StopSignals : public ::testing::Test {
 protected:
  void SetUp() override {
    install_stop_signal_handlers();
    clear_stop_signal();
  }
  void TearDown() override { clear_stop_signal(); }
};

TEST_F(StopSignals, UsrOneAndTermAreRecordedNotFatalAndRepeatable) {
  EXPECT_EQ(stop_signal_received(), 0);
  ASSERT_EQ(std::raise(SIGUSR1), 0);  // the default action would end the test program
  EXPECT_EQ(stop_signal_received(), SIGUSR1);
  ASSERT_EQ(std::raise(SIGTERM), 0);  // a second signal (e.g. during the save) only records again
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  EXPECT_EQ(stop_signal_received(), SIGUSR1);
  clear_stop_signal();
  EXPECT_EQ(stop_signal_received(), 0);
}

TEST_F(StopSignals, NoSignalNoBudgetNeverStops) {
  int calls = 0;
  StopPolicy policy([&](int*, int n) { ++calls; EXPECT_EQ(n, 2); }, 0.0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(policy.check(1000.0), StopReason::none);
  EXPECT_EQ(calls, 5);  // collective at every step boundary, also when nothing happened
}

TEST_F(StopSignals, LocalSignalStopsAtTheNextCheck) {
  StopPolicy policy(nullptr, 0.0);
  EXPECT_EQ(policy.check(0.1), StopReason::none);
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_EQ(policy.check(0.1), StopReason::signal);
}

TEST_F(StopSignals, AnotherRanksFlagsStopThisRankToo) {
  // The all-reduce (max) brings another rank's flags: signal from one, budget from another.
  int remote[2] = {0, 0};
  StopPolicy policy([&](int* flags, int n) { for (int i = 0; i < n; ++i) flags[i] = std::max(flags[i], remote[i]); },
                    0.0);
  EXPECT_EQ(policy.check(0.1), StopReason::none);
  remote[1] = 1;
  EXPECT_EQ(policy.check(0.1), StopReason::time_budget);
  remote[0] = 1;
  EXPECT_EQ(policy.check(0.1), StopReason::signal);  // a signal wins over the budget
  EXPECT_EQ(stop_signal_received(), 0);              // this rank itself saw none
}

TEST_F(StopSignals, BudgetKeepsRoomForTwoStepsAndTheLongestSave) {
  // Budget 10 minutes = 600 s, started 500 s ago: 100 s left.
  const auto start = Clock::now() - std::chrono::seconds(500);
  StopPolicy policy(nullptr, 10.0, start);
  EXPECT_NEAR(policy.elapsed_seconds(), 500.0, 5.0);
  EXPECT_EQ(policy.check(10.0), StopReason::none);         // 500 + 2*10 + 10 (no save yet: one step) < 600
  policy.record_save(40.0);
  EXPECT_EQ(policy.check(10.0), StopReason::none);         // 500 + 20 + 40 = 560 < 600
  EXPECT_EQ(policy.check(30.0), StopReason::time_budget);  // 500 + 60 + 40 >= 600
}

TEST_F(StopSignals, BudgetStopsWhenTheLongestStepNoLongerFits) {
  const auto start = Clock::now() - std::chrono::seconds(500);
  StopPolicy policy(nullptr, 10.0, start);
  EXPECT_EQ(policy.check(20.0), StopReason::none);   // 500 + 40 + 20 = 560
  EXPECT_EQ(policy.check(1.0), StopReason::none);    // the longest step (20 s) is kept
  EXPECT_EQ(policy.check(40.0), StopReason::time_budget);  // 500 + 80 + 40 = 620 >= 600
}

TEST(StopConfig, MaxMinutesIsValidated) {
  EXPECT_EQ(load_config("", {}).train.max_minutes, 0.0);
  const Config c = load_config("", {"--train.max_minutes=90.5"});
  EXPECT_EQ(c.train.max_minutes, 90.5);
  EXPECT_NO_THROW(validate_config(c, 1));
  EXPECT_NE(config_to_ini(c).find("max_minutes = 90.5"), std::string::npos);
  test::expect_error([] { validate_config(load_config("", {"--train.max_minutes=-1"}), 1); }, ErrorKind::config,
                     {"train.max_minutes", "-1"});
  test::expect_error([] { validate_config(load_config("", {"--train.max_minutes=inf"}), 1); }, ErrorKind::config,
                     {"train.max_minutes"});
  test::expect_error([] { load_config("", {"--train.max_minutes=soon"}); }, ErrorKind::config, {"train.max_minutes"});
}

RankLaunch rank_view(int rank, int size, int local, int local_size, const char* host) {
  RankLaunch r;
  r.rank = rank;
  r.size = size;
  r.local_rank = local;
  r.local_size = local_size;
  std::strncpy(r.host, host, sizeof(r.host) - 1);
  return r;
}

TEST(LaunchReport, SrunVariablesMatchingMpi) {
  std::vector<RankLaunch> ranks;
  for (int r = 0; r < 4; ++r) {
    RankLaunch v = rank_view(r, 4, r % 2, 2, r < 2 ? "node1" : "node2");
    v.slurm_procid = r;
    v.slurm_localid = r % 2;
    v.slurm_ntasks = 4;
    std::strcpy(v.cuda_devices, r % 2 == 0 ? "0" : "1");
    ranks.push_back(v);
  }
  const std::string text = describe_launch(ranks, "42", "1");
  EXPECT_NE(text.find("launch: srun | 4 ranks on 2 nodes | Slurm job 42, restart 1"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 3/4 local 1/2 on node2 | SLURM_PROCID 3 SLURM_LOCALID 1 SLURM_NTASKS 4"), std::string::npos)
      << text;
  EXPECT_NE(text.find("CUDA_VISIBLE_DEVICES 1"), std::string::npos) << text;
  EXPECT_NE(text.find("match the srun variables on every rank"), std::string::npos) << text;
  EXPECT_EQ(text.find("WARNING"), std::string::npos) << text;
}

TEST(LaunchReport, DisagreementIsAWarningNamingTheVariable) {
  std::vector<RankLaunch> ranks;
  for (int r = 0; r < 2; ++r) {
    RankLaunch v = rank_view(r, 2, r, 2, "node1");
    v.ompi_rank = r;
    v.ompi_local_rank = 0;  // wrong on rank 1
    v.ompi_size = 2;
    v.slurm_procid = 0;     // mpirun inside a Slurm job: SLURM_* describe the batch step, not compared
    ranks.push_back(v);
  }
  const std::string text = describe_launch(ranks, nullptr, nullptr);
  EXPECT_NE(text.find("launch: mpirun | 2 ranks on 1 node\n"), std::string::npos) << text;
  EXPECT_NE(text.find("WARNING: launcher disagrees with MPI: OMPI_COMM_WORLD_LOCAL_RANK=0 (MPI: 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("DO NOT match the mpirun variables"), std::string::npos) << text;
}

TEST(LaunchReport, ManyRanksListTheFirstAndEveryDisagreeingOne) {
  std::vector<RankLaunch> ranks;
  for (int r = 0; r < 100; ++r) {
    RankLaunch v = rank_view(r, 100, r % 8, 8, "n");
    v.slurm_procid = r == 77 ? 78 : r;
    v.slurm_localid = r % 8;
    v.slurm_ntasks = 100;
    ranks.push_back(v);
  }
  const std::string text = describe_launch(ranks, "7", nullptr, 4);
  EXPECT_NE(text.find("rank 3/100"), std::string::npos);
  EXPECT_EQ(text.find("rank 4/100"), std::string::npos);
  EXPECT_NE(text.find("rank 77/100 local 5/8 on n | SLURM_PROCID 78"), std::string::npos) << text;
  EXPECT_NE(text.find("SLURM_PROCID=78 (MPI: 77)"), std::string::npos) << text;
  EXPECT_NE(text.find("(96 more ranks)"), std::string::npos) << text;
}

TEST(LaunchReport, OneProcessWithoutLauncher) {
  const std::string text = describe_launch({rank_view(0, 1, 0, 1, "box")}, nullptr, nullptr);
  EXPECT_NE(text.find("launch: none (one process) | 1 ranks on 1 node"), std::string::npos) << text;
  EXPECT_EQ(text.find("match"), std::string::npos) << text;
}

}  // namespace
}  // namespace strata
