// Configuration: INI + command-line overrides, and every validation rule of SPEC section 5 failing
// with Error{config} that names the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "kernels/error.h"
#include "src/config.h"
#include "src/lr_schedule.h"

namespace strata {
namespace {

std::string write_ini(const std::string& text) {
  char name[] = "/tmp/strata_cfg_XXXXXX";
  const int fd = mkstemp(name);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

void expect_config_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected a config error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Config, ShippedTinyConfigLoadsAndValidates) {
  const Config c = load_config(std::string(STRATA_SOURCE_DIR) + "/configs/gpt-tiny.ini", {});
  EXPECT_EQ(c.model.vocab_size, 257);
  EXPECT_NO_THROW(validate_config(c, 1));
  EXPECT_FALSE(c.data.train.empty());
}

TEST(Config, CommandLineOverridesTheFile) {
  const std::string ini = write_ini("[model]\nlayers = 3\nhidden = 32\n[data]\ntrain = a.h5, b/*.h5\n");
  const Config c = load_config(ini, {"--model.layers=4", "--optim.lr", "0.01", "--model.layers=5"});
  EXPECT_EQ(c.model.layers, 5);
  EXPECT_EQ(c.model.hidden, 32);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.01);
  EXPECT_EQ(c.data.train, (std::vector<std::string>{"a.h5", "b/*.h5"}));
  std::remove(ini.c_str());
}

TEST(Config, RoundTripsThroughIni) {
  Config c = load_config("", {"--model.layers=6", "--train.recompute=full", "--data.valid=v.h5"});
  const std::string ini = write_ini(config_to_ini(c));
  const Config d = load_config(ini, {});
  EXPECT_EQ(config_to_ini(d), config_to_ini(c));
  std::remove(ini.c_str());
}

TEST(Config, UnknownKeysAndBadValuesNameTheKey) {
  const std::string ini = write_ini("[model]\nlayerz = 3\n");
  expect_config_error([&] { load_config(ini, {}); }, "model.layerz");
  std::remove(ini.c_str());
  expect_config_error([] { load_config("", {"--model.layers=abc"}); }, "model.layers");
  expect_config_error([] { load_config("", {"--nosuch.key=1"}); }, "nosuch.key");
  expect_config_error([] { load_config("/nonexistent/x.ini", {}); }, "/nonexistent/x.ini");
}

TEST(Config, EveryImpossibleLayoutIsRejectedWithItsRule) {
  auto check = [](std::vector<std::string> args, int world, const std::string& key) {
    expect_config_error([&] { validate_config(load_config("", args), world); }, key);
  };
  check({"--model.heads=5", "--model.hidden=64"}, 1, "model.heads");
  check({"--parallel.tensor=2", "--model.heads=3", "--model.hidden=48"}, 2, "parallel.tensor");
  check({"--parallel.tensor=3"}, 4, "parallel.tensor");                      // 3 does not divide 4 ranks
  check({"--parallel.pipeline=3", "--model.layers=4"}, 3, "parallel.pipeline");  // layers % pipeline
  // Interleaved pipeline: layers % (pipeline x virtual_stages), a pipeline to interleave over, and (Megatron's
  // rule) micro-batches per step a multiple of the pipeline size; the defaults give 8 / 4 = 2 micro-batches.
  check({"--parallel.pipeline=2", "--parallel.virtual_stages=2", "--model.layers=6"}, 2, "parallel.pipeline");
  check({"--parallel.virtual_stages=2", "--model.layers=4"}, 1, "parallel.virtual_stages");
  check({"--parallel.virtual_stages=0"}, 1, "parallel.virtual_stages");
  check({"--parallel.pipeline=2", "--parallel.virtual_stages=2", "--model.layers=4", "--train.global_batch=12"}, 2,
        "parallel.virtual_stages");  // 3 micro-batches over 2 stages
  check({"--parallel.pipeline=2", "--parallel.virtual_stages=2", "--model.layers=4", "--train.global_batch=12"}, 2,
        "multiple of parallel.pipeline = 2");
  check({"--parallel.pipeline=2", "--parallel.virtual_stages=2", "--model.layers=4"}, 4,
        "parallel.virtual_stages");  // data 2: 8 / (4 * 2) = 1 micro-batch
  EXPECT_NO_THROW(validate_config(
      load_config("", {"--parallel.pipeline=2", "--parallel.virtual_stages=2", "--model.layers=4"}), 2));
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.pipeline=2", "--parallel.virtual_stages=3",
                                                   "--model.layers=6", "--train.global_batch=16"}),
                                  4));  // data 2: 16 / (4 * 2) = 2 micro-batches
  check({"--train.global_batch=10", "--train.micro_batch=4"}, 1, "train.global_batch");
  check({"--parallel.zero_stage=4"}, 1, "parallel.zero_stage");
  check({"--parallel.order=tp,dp"}, 1, "parallel.order");
  check({"--train.precision=fp16"}, 1, "train.precision");
  check({"--train.recompute=some"}, 1, "train.recompute");
  check({"--optim.decay=step"}, 1, "optim.decay");
  check({"--optim.lr=0"}, 1, "optim.lr");
  check({"--optim.beta2=1"}, 1, "optim.beta2");
  check({"--model.layers=0"}, 1, "model.layers");
  check({"--train.log_interval=0"}, 1, "train.log_interval");
}

TEST(Config, SequenceParallelNeedsRowsDivisibleByTensor) {
  auto check = [](std::vector<std::string> args, int world, const std::string& text) {
    expect_config_error([&] { validate_config(load_config("", args), world); }, text);
  };
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.sequence_parallel=true", "--parallel.tensor=2"}), 2));
  // One tensor rank: nothing to split, accepted and without effect (as in Megatron-LM).
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.sequence_parallel=true"}), 1));
  EXPECT_NO_THROW(validate_config(
      load_config("", {"--parallel.sequence_parallel=true", "--train.micro_batch=1", "--model.seq_len=6"}), 1));
  // 1 x 6 rows do not split over 4 tensor ranks (the same layout without sequence parallelism is fine).
  const std::vector<std::string> rows6 = {"--parallel.tensor=4", "--train.micro_batch=1", "--model.seq_len=6"};
  EXPECT_NO_THROW(validate_config(load_config("", rows6), 4));
  std::vector<std::string> sp6 = rows6;
  sp6.push_back("--parallel.sequence_parallel=true");
  check(sp6, 4, "parallel.sequence_parallel");
  check(sp6, 4, "train.micro_batch * model.seq_len = 1 * 6 divisible by parallel.tensor = 4");
  sp6.push_back("--train.micro_batch=2");  // 12 rows: 3 per rank
  EXPECT_NO_THROW(validate_config(load_config("", sp6), 4));
}

// Every feature the keys can ask for is built: validate_config accepts what validate_layout accepts.
TEST(Config, EveryFeatureOfThisBuildIsAccepted) {
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.tensor=2"}), 2));
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.pipeline=2"}), 2));
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.zero_stage=3"}), 1));  // no data group to shard over
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.zero_stage=3", "--train.global_batch=16"}), 4));
  EXPECT_NO_THROW(validate_config(
      load_config("", {"--parallel.zero_stage=3", "--parallel.tensor=2", "--parallel.pipeline=2"}), 8));
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.zero_stage=2"}), 2));
  EXPECT_NO_THROW(validate_config(load_config("", {"--parallel.zero_stage=1"}), 2));
  EXPECT_NO_THROW(validate_config(load_config("", {"--train.precision=bf16"}), 1));
  EXPECT_NO_THROW(validate_config(
      load_config("", {"--train.precision=bf16", "--parallel.tensor=2", "--parallel.pipeline=2", "--parallel.zero_stage=3"}),
      8));
  EXPECT_NO_THROW(validate_config(load_config("", {"--train.recompute=full"}), 1));
}

TEST(Config, CheckpointKeys) {
  auto check = [](std::vector<std::string> args, const std::string& key) {
    expect_config_error([&] { validate_config(load_config("", args), 1); }, key);
  };
  EXPECT_NO_THROW(validate_config(load_config("", {"--checkpoint.dir=/tmp/ck", "--checkpoint.interval=5",
                                                   "--checkpoint.load=auto", "--checkpoint.async=true"}), 1));
  EXPECT_NO_THROW(validate_config(load_config("", {"--checkpoint.load=/tmp/ck/step_00000005"}), 1));
  check({"--checkpoint.load=auto"}, "checkpoint.load");
  check({"--checkpoint.interval=10"}, "checkpoint.interval");
  check({"--checkpoint.async=true"}, "checkpoint.async");
  check({"--checkpoint.dir=/tmp/ck", "--checkpoint.keep=0"}, "checkpoint.keep");
  check({"--checkpoint.dir=/tmp/ck", "--checkpoint.interval=-1"}, "checkpoint.interval");
}

TEST(LrSchedule, WarmupThenCosineToMin) {
  LrSchedule s{1.0, 0.1, 10, 110, "cosine"};
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(10 + 99 / 2.0), 0.55, 0.01);
  EXPECT_DOUBLE_EQ(s.at(109), 0.1);
  EXPECT_DOUBLE_EQ(s.at(500), 0.1);
  LrSchedule lin{1.0, 0.0, 0, 11, "linear"};
  EXPECT_DOUBLE_EQ(lin.at(5), 0.5);
  LrSchedule flat{1.0, 0.0, 2, 11, "constant"};
  EXPECT_DOUBLE_EQ(flat.at(7), 1.0);
}

}  // namespace
}  // namespace strata
