// bench_checkpoint.cpp — checkpoint save and load bandwidth against the raw write bandwidth of the same
// filesystem, measured in the same run, and the training stall an asynchronous save causes. Prints
// figures; asserts nothing.
//
//   [mpirun -np N] bench_checkpoint DIR [--layers 24] [--hidden 768] [--heads 12] [--vocab 50257]
//                  [--seq-len 256] [--micro-batch 1] [--repeat 3] [--no-stall]
//
// On N ranks the model is data-parallel with ZeRO 1 (each rank writes 1/N of every tensor's rows).
// 1. raw: every rank pwrites as many bytes as it writes in a checkpoint into its own file in DIR (64 MiB
//    calls) and fsyncs; bandwidth = all bytes / slowest rank's time.
// 2. save: Checkpointer::save (synchronous, fsync'd, committed) of the model's parameters and Adam moments.
// 3. load: the page cache of state.h5 dropped (posix_fadvise DONTNEED after the fsync), Checkpointer::load
//    (checksums verified).
// 1-3 run --repeat times in turn (raw, save, load, raw, ...); each line and the medians are printed, and
// the ratios are medians of each round's ratio (raw and save measured back to back), which a shared,
// noisy machine disturbs least.
// 4. stall (unless --no-stall): a Trainer on synthetic tokens times --repeat steps (median = a normal
//    step), then --repeat times: an asynchronous save (the time save_checkpoint_now() blocks) and the next
//    step, which runs while the background thread writes, then a wait for the write; stall = blocking
//    time + (that step - a normal step), as a fraction of a normal step (median over the rounds).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/error.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_env.h"
#include "parallel/topology.h"
#include "src/batch_source.h"
#include "src/checkpoint.h"
#include "src/config.h"
#include "src/metrics.h"
#include "src/program_main.h"
#include "src/trainer.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

struct Args {
  std::string dir;
  int layers = 24, hidden = 768, heads = 12, vocab = 50257, seq_len = 256, micro_batch = 1, repeat = 3;
  bool stall = true;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto value = [&]() -> int {
      STRATA_CHECK(i + 1 < argc, config, s, " needs a value");
      return std::stoi(argv[++i]);
    };
    if (s == "--layers") a.layers = value();
    else if (s == "--hidden") a.hidden = value();
    else if (s == "--heads") a.heads = value();
    else if (s == "--vocab") a.vocab = value();
    else if (s == "--seq-len") a.seq_len = value();
    else if (s == "--micro-batch") a.micro_batch = value();
    else if (s == "--repeat") a.repeat = std::max(1, value());
    else if (s == "--no-stall") a.stall = false;
    else if (a.dir.empty() && s.rfind("--", 0) != 0) a.dir = s;
    else STRATA_THROW(config, "unknown argument ", s);
  }
  STRATA_CHECK(!a.dir.empty(), config, "usage: bench_checkpoint DIR [--layers N] [--hidden N] ... (see the source)");
  return a;
}

// Writes `bytes` to `path` in 64 MiB pwrites and fsyncs it.
void raw_write(const std::string& path, std::size_t bytes) {
  std::vector<char> buf(std::size_t{64} << 20, 1);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  STRATA_CHECK(fd >= 0, internal, "cannot create ", path);
  for (std::size_t done = 0; done < bytes;) {
    const std::size_t n = std::min(buf.size(), bytes - done);
    STRATA_CHECK(::pwrite(fd, buf.data(), n, static_cast<off_t>(done)) == static_cast<ssize_t>(n), internal, "pwrite ", path);
    done += n;
  }
  STRATA_CHECK(::fsync(fd) == 0, internal, "fsync ", path);
  ::close(fd);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void drop_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

int run(int argc, char** argv, const strata::MpiSession& mpi) {
  using namespace strata;
  const Args a = parse(argc, argv);
  const bool root = mpi.rank() == 0;
  Config cfg = load_config("", {});
  cfg.model = {a.layers, a.hidden, a.heads, a.seq_len, a.vocab};
  cfg.train.micro_batch = a.micro_batch;
  cfg.train.global_batch = a.micro_batch * mpi.size();
  cfg.train.steps = 1000;
  cfg.checkpoint.dir = a.dir + "/ckpt";
  cfg.checkpoint.keep = 1;
  validate_config(cfg, mpi.size());
  const Topology topology(mpi.size(), mpi.rank(), 1, 1);
  const ParallelGroups groups = make_mpi_groups(topology);
  auto backend = make_cpu_backend();
  fs::create_directories(a.dir);
  auto barrier_time = [&](clock_type::time_point t0) {
    groups.model().barrier();
    double t = seconds_since(t0);
    groups.data().all_reduce(std::span<double>(&t, 1), ReduceOp::max);
    return t;
  };

  double ckpt_bytes = 0;
  std::vector<double> raw_s, save_s, load_s, save_ratio, load_ratio;
  {
    const ParamLayout layout(cfg.shape(), ModelPartition{});
    Checkpointer ck(cfg, *backend, layout, &groups);
    const std::size_t state = mpi.size() > 1 ? ck.staging_floats() / 3 : layout.total();
    std::vector<float> params(layout.total(), 0.01f), m(state, 0.001f), v(state, 1e-6f);
    for (std::size_t i = 0; i < params.size(); ++i) params[i] = static_cast<float>(i % 1000) * 1e-3f;
    double mine = static_cast<double>(ck.staging_floats()) * sizeof(float);
    ckpt_bytes = mine;
    groups.data().all_reduce(std::span<double>(&ckpt_bytes, 1));
    if (root)
      std::printf("model: %d layers, hidden %d, vocab %d: %zu parameters; checkpoint %.2f GB on %d rank(s)\n", a.layers,
                  a.hidden, a.vocab, layout.total(), ckpt_bytes / 1e9, mpi.size());
    const std::string raw_file = a.dir + "/raw_" + std::to_string(mpi.rank()) + ".bin";
    const std::string step_dir = cfg.checkpoint.dir + "/" + checkpoint_step_name(1);
    for (int r = 0; r < a.repeat; ++r) {
      groups.data().barrier();
      auto t0 = clock_type::now();
      raw_write(raw_file, static_cast<std::size_t>(mine));
      raw_s.push_back(barrier_time(t0));
      fs::remove(raw_file);
      t0 = clock_type::now();
      ck.save(params.data(), m.data(), v.data(), TrainPosition{1, 0, 0}, false);
      save_s.push_back(barrier_time(t0));
      drop_cache(step_dir + "/" + kCheckpointStateFile);
      groups.data().barrier();
      t0 = clock_type::now();
      ck.load(step_dir, params.data(), m.data(), v.data());
      load_s.push_back(barrier_time(t0));
      save_ratio.push_back(raw_s.back() / save_s.back());
      load_ratio.push_back(raw_s.back() / load_s.back());
      if (root)
        std::printf("round %d: raw write %.2f s, save %.2f s (%.0f%%), load %.2f s (%.0f%%)\n", r + 1, raw_s.back(),
                    save_s.back(), 100.0 * save_ratio.back(), load_s.back(), 100.0 * load_ratio.back());
    }
  }
  if (root) {
    const double raw = median(raw_s), save = median(save_s), load = median(load_s);
    std::printf("medians of %d rounds:\n", a.repeat);
    std::printf("raw write  %7.2f s  %7.1f MB/s\n", raw, ckpt_bytes / raw / 1e6);
    std::printf("save       %7.2f s  %7.1f MB/s  (%.0f%% of raw write)\n", save, ckpt_bytes / save / 1e6,
                100.0 * median(save_ratio));
    std::printf("load       %7.2f s  %7.1f MB/s  (%.0f%% of raw write; page cache dropped, checksums verified)\n",
                load, ckpt_bytes / load / 1e6, 100.0 * median(load_ratio));
    std::fflush(stdout);
  }
  if (!a.stall) return 0;
  cfg.checkpoint.async = true;
  Trainer trainer(cfg, *backend, make_synthetic_source(a.seq_len, a.vocab, 1), nullptr, 1e12, &groups);
  trainer.step();  // warm-up
  std::vector<double> steps;
  for (int r = 0; r < a.repeat; ++r) steps.push_back(trainer.step().step_ms / 1e3);
  const double step_s = median(steps);
  std::vector<double> stalls;
  for (int r = 0; r < a.repeat; ++r) {
    auto t0 = clock_type::now();
    trainer.save_checkpoint_now();
    const double block_s = barrier_time(t0);
    const double during_s = trainer.step().step_ms / 1e3;
    t0 = clock_type::now();
    trainer.wait_for_checkpoint();
    const double rest_s = barrier_time(t0);
    stalls.push_back(block_s + std::max(0.0, during_s - step_s));
    if (root)
      std::printf("async save %d: save_checkpoint_now() blocks %.3f s; the step during the write %.2f s (a step: %.2f s, "
                  "median of %d); then waited %.2f s for the write\n",
                  r + 1, block_s, during_s, step_s, a.repeat, rest_s);
  }
  if (root) std::printf("stall      %7.3f s = %.1f%% of a step (median)\n", median(stalls), 100.0 * median(stalls) / step_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  strata::ProgramMain program("bench_checkpoint", "bench_checkpoint");
  return program.run([&] { return run(argc, argv, program.start_mpi(&argc, &argv)); });
}
