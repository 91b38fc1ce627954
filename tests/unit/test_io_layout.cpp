// test_io_layout.cpp — SPEC section 7: "any file of this shape loads, whoever wrote it". The same token
// stream written by ShardWriter (uint16, chunked, uncompressed, 2 files) and directly with the HDF5 C
// API in another physical layout (uint32 of both byte orders, chunk sizes that do not divide the
// lengths, deflate, an int32 vocab_size attribute, 3 files) gives the same samples and trains a tiny
// model to bit-identical per-step losses.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/prefetch_loader.h"
#include "io/shard.h"
#include "kernels/backend.h"
#include "src/batch_source.h"
#include "src/config.h"
#include "src/trainer.h"
#include "tests/unit/raw_shard_writer.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

using strata::test::TempDir;


// 1201 byte-like tokens with some structure (a model can learn something in 5 steps).
std::vector<std::int64_t> corpus() {
  const std::string text = "the cat sat on the mat; the dog sat on the log. ";
  std::vector<std::int64_t> t(1201);
  for (std::size_t i = 0; i < t.size(); ++i)
    t[i] = i % 97 == 96 ? 256 : static_cast<unsigned char>(text[(i * 3 + i / 97) % text.size()]);
  return t;
}

std::vector<std::string> write_with_shard_writer(const TempDir& dir, const std::vector<std::int64_t>& tokens) {
  std::vector<std::string> paths;
  std::size_t at = 0;
  for (const std::size_t n : {700, 501}) {
    paths.push_back(dir.file(paths.empty() ? "w0.h5" : "w1.h5"));
    ShardWriter w(paths.back(), 257, 256);
    std::vector<std::int32_t> part(tokens.begin() + static_cast<std::ptrdiff_t>(at),
                                   tokens.begin() + static_cast<std::ptrdiff_t>(at + n));
    w.append(part);
    w.close();
    at += n;
  }
  return paths;
}

std::vector<std::string> write_raw(const TempDir& dir, const std::vector<std::int64_t>& tokens) {
  struct Part {
    std::size_t n;
    hid_t type;
    hsize_t chunk;
    int deflate;
  };
  const std::vector<Part> parts{{300, H5T_STD_U32LE, 7, 4}, {451, H5T_STD_U32BE, 100, 9}, {450, H5T_STD_U32LE, 64, 1}};
  std::vector<std::string> paths;
  std::size_t at = 0;
  for (const Part& p : parts) {
    std::string name = "raw";
    name.append(std::to_string(paths.size())).append(".h5");
    paths.push_back(dir.file(name));
    testing::RawShardLayout layout;
    layout.file_type = p.type;
    layout.chunk = p.chunk;
    layout.deflate = p.deflate;
    layout.vocab_size = 257;
    layout.vocab_type = H5T_STD_I32BE;
    testing::write_raw_shard(paths.back(),
                             std::vector<std::int64_t>(tokens.begin() + static_cast<std::ptrdiff_t>(at),
                                                       tokens.begin() + static_cast<std::ptrdiff_t>(at + p.n)),
                             layout);
    at += p.n;
  }
  return paths;
}

Config tiny_config(const std::vector<std::string>& train) {
  Config c;
  c.model = {1, 32, 2, 16, 257};
  c.train.micro_batch = 4;
  c.train.global_batch = 8;
  c.train.steps = 5;
  c.train.seed = 7;
  c.optim.lr = 3e-3;
  c.optim.warmup_steps = 1;
  c.data.train = train;
  return c;
}

std::vector<double> train_losses(const Config& cfg) {
  auto be = make_cpu_backend();
  Trainer trainer(cfg, *be, make_train_source(cfg, 0, 1), nullptr, 1e12);
  std::vector<double> losses;
  while (trainer.steps_done() < cfg.train.steps) {
    const StepMetrics m = trainer.step();
    losses.push_back(m.loss);
    losses.push_back(m.grad_norm);
  }
  return losses;
}

}  // namespace

TEST(IoLayout, OtherPhysicalLayoutGivesTheSameSamples) {
  TempDir dir;
  const auto tokens = corpus();
  const auto written = write_with_shard_writer(dir, tokens);
  const auto raw = write_raw(dir, tokens);
  EXPECT_EQ(Shard(raw[1]).storage_description().find("deflate") != std::string::npos, true);
  LoaderOptions o;
  o.seq_len = 16;
  o.model_vocab = 257;
  o.seed = 7;
  o.schedule = {8, 4, 0, 1, 0};
  o.inputs = written;
  PrefetchLoader a(o);
  o.inputs = raw;
  PrefetchLoader b(o);
  ASSERT_EQ(a.num_tokens(), b.num_tokens());
  ASSERT_EQ(a.num_samples(), 75u);
  std::vector<std::int32_t> ai(64), at(64), bi(64), bt(64);
  for (std::uint64_t k = 0; k < 60; ++k) {  // 240 samples: 3 epochs and more
    a.read(4 * k, 4, ai.data(), at.data());
    b.read(4 * k, 4, bi.data(), bt.data());
    ASSERT_EQ(ai, bi) << "read " << k;
    ASSERT_EQ(at, bt) << "read " << k;
  }
}

TEST(IoLayout, OtherPhysicalLayoutTrainsToBitIdenticalLosses) {
  TempDir dir;
  const auto tokens = corpus();
  const std::vector<double> written = train_losses(tiny_config(write_with_shard_writer(dir, tokens)));
  const std::vector<double> raw = train_losses(tiny_config(write_raw(dir, tokens)));
  ASSERT_EQ(written.size(), 10u);
  EXPECT_EQ(written, raw);  // bit for bit
  EXPECT_LT(written[8], written[0]);
  std::printf("layout: losses %.6f ... %.6f on both layouts\n", written[0], written[8]);
}

}  // namespace strata
