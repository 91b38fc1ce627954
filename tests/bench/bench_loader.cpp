// bench_loader.cpp — how fast the prefetching loader delivers shuffled micro-batches, against how fast a
// training step consumes them, and how long the consumer waits on I/O. Prints figures; asserts nothing.
//
//   bench_loader [--data GLOB|DIR|FILE] [--tokens N] [--micro-batch 8] [--seq-len 1024] [--vocab 50257]
//                [--reads 400] [--depth 3] [--consume-tokens-per-s X] [--config INI]
//
// Without --data it writes --tokens random tokens into 4 shards in a temporary directory (deleted at
// the end; they are in the page cache, so this measures the loader, not the disk). The consumer's rate
// is --consume-tokens-per-s, or else this machine's sgemm GFLOP/s divided by the model FLOPs per token
// (the model of --config, default GPT-2 124M at --seq-len): a step at 100% MFU, the hardest case.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/prefetch_loader.h"
#include "io/sample_order.h"
#include "io/shard.h"
#include "io/token_dataset.h"
#include "kernels/error.h"
#include "src/config.h"
#include "src/gpt_shape.h"
#include "src/sgemm_probe.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct Args {
  std::string data, config;
  std::uint64_t tokens = std::uint64_t{1} << 24;
  int micro_batch = 8, seq_len = 1024, vocab = 50257, reads = 400, depth = 3;
  double consume_tokens_per_s = 0.0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto value = [&]() -> std::string {
      STRATA_CHECK(i + 1 < argc, config, s, " needs a value");
      return argv[++i];
    };
    if (s == "--data") a.data = value();
    else if (s == "--config") a.config = value();
    else if (s == "--tokens") a.tokens = std::stoull(value());
    else if (s == "--micro-batch") a.micro_batch = std::stoi(value());
    else if (s == "--seq-len") a.seq_len = std::stoi(value());
    else if (s == "--vocab") a.vocab = std::stoi(value());
    else if (s == "--reads") a.reads = std::stoi(value());
    else if (s == "--depth") a.depth = std::stoi(value());
    else if (s == "--consume-tokens-per-s") a.consume_tokens_per_s = std::stod(value());
    else STRATA_THROW(config, "unknown option '", s, "' (see the top of tests/bench/bench_loader.cpp)");
  }
  return a;
}

std::vector<std::string> write_random_shards(const fs::path& dir, std::uint64_t tokens, int vocab) {
  std::vector<std::string> paths;
  std::mt19937 gen(1);
  std::uniform_int_distribution<std::int32_t> dist(0, vocab - 1);
  std::vector<std::int32_t> buf(1 << 20);
  const std::uint64_t per_shard = (tokens + 3) / 4;
  for (std::uint64_t done = 0; done < tokens;) {
    paths.push_back((dir / ("train_" + std::to_string(paths.size()) + ".h5")).string());
    strata::ShardWriter w(paths.back(), vocab, std::nullopt);
    for (std::uint64_t n = 0; n < per_shard && done < tokens;) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>({buf.size(), per_shard - n, tokens - done}));
      for (std::size_t i = 0; i < k; ++i) buf[i] = dist(gen);
      w.append(std::span<const std::int32_t>(buf.data(), k));
      n += k;
      done += k;
    }
    w.close();
  }
  return paths;
}

void spin_for(double seconds) {  // the step's compute: keeps this core busy, as training does
  const auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  while (clock_type::now() < end) {
  }
}

int run(int argc, char** argv) {
  using namespace strata;
  const Args a = parse(argc, argv);
  GptShape shape{12, 768, 12, a.seq_len, a.vocab, 1};
  if (!a.config.empty()) shape = load_config(a.config, {}).shape();
  const std::uint64_t mb = static_cast<std::uint64_t>(a.micro_batch);
  const std::uint64_t tokens_per_read = mb * static_cast<std::uint64_t>(shape.seq_len);

  fs::path tmp;
  std::vector<std::string> inputs{a.data};
  if (a.data.empty()) {
    tmp = fs::temp_directory_path() / ("strata_bench_loader_" + std::to_string(getpid()));
    fs::create_directories(tmp);
    const auto t0 = clock_type::now();
    inputs = write_random_shards(tmp, a.tokens, shape.vocab_size);
    std::printf("wrote %llu random tokens (vocab %d) into %zu shards in %s: %.2f s\n",
                static_cast<unsigned long long>(a.tokens), shape.vocab_size, inputs.size(), tmp.c_str(),
                seconds_since(t0));
  }

  LoaderOptions o;
  o.inputs = inputs;
  o.what = "bench";
  o.seq_len = shape.seq_len;
  o.model_vocab = shape.vocab_size;
  o.seed = 1234;
  o.shuffle = true;
  o.schedule = {mb * 4, mb, 0, 1, 0};
  o.depth = a.depth;
  const auto n = static_cast<std::size_t>(tokens_per_read);
  std::vector<std::int32_t> inputs_buf(n), targets_buf(n);

  // 1. The synchronous reader, for reference: what a loader without prefetch costs per micro-batch.
  double sync_s = 0.0;
  {
    const TokenDataset ds(inputs, "bench");
    const BatchReader reader(ds, shape.seq_len, o.seed, true);
    const auto t0 = clock_type::now();
    for (int k = 0; k < a.reads; ++k)
      reader.read(o.schedule.first_sample(static_cast<std::uint64_t>(k)), mb, inputs_buf.data(), targets_buf.data());
    sync_s = seconds_since(t0);
  }
  // 2. The prefetching loader, consumed as fast as it delivers.
  double loader_s = 0.0;
  std::string description;
  {
    PrefetchLoader loader(o);
    description = loader.describe();
    const auto t0 = clock_type::now();
    for (int k = 0; k < a.reads; ++k)
      loader.read(o.schedule.first_sample(static_cast<std::uint64_t>(k)), mb, inputs_buf.data(), targets_buf.data());
    loader_s = seconds_since(t0);
  }
  const double total_tokens = static_cast<double>(tokens_per_read) * a.reads;
  const double sync_rate = total_tokens / sync_s, loader_rate = total_tokens / loader_s;

  // 3. A consumer at the training step's rate.
  double consume_rate = a.consume_tokens_per_s;
  std::string consume_from = "given";
  if (consume_rate <= 0) {
    const double gflops = measure_sgemm_gflops(512, 2048, 512, 0.3);
    consume_rate = gflops * 1e9 / gpt_flops_per_token(shape);
    char buf[200];
    std::snprintf(buf, sizeof buf, "sgemm %.1f GFLOP/s / %.3g model FLOP per token (%d layers, hidden %d, seq %d), 100%% MFU",
                  gflops, gpt_flops_per_token(shape), shape.layers, shape.hidden, shape.seq_len);
    consume_from = buf;
  }
  // A slow consumer (a large model on CPU: minutes per micro-batch) is simulated at 0.2 s per read: the
  // loader, far faster still, then has every read ready but the first.
  const double step_s = static_cast<double>(tokens_per_read) / consume_rate;
  const double compute_s = std::min(step_s, 0.2);
  const int consumer_reads = static_cast<int>(std::clamp(3.0 / compute_s, 10.0, static_cast<double>(a.reads)));
  LoaderStats st, first;
  double consumer_s = 0.0;
  {
    PrefetchLoader loader(o);
    const auto t0 = clock_type::now();
    for (int k = 0; k < consumer_reads; ++k) {
      loader.read(o.schedule.first_sample(static_cast<std::uint64_t>(k)), mb, inputs_buf.data(), targets_buf.data());
      if (k == 0) first = loader.stats();  // the first read always waits: nothing could be prefetched yet
      spin_for(compute_s);
    }
    consumer_s = seconds_since(t0);
    st = loader.stats();
  }

  std::printf("%s\n", description.c_str());
  std::printf("micro-batch %llu x seq %d = %llu tokens per read, %d reads, shuffled\n",
              static_cast<unsigned long long>(mb), shape.seq_len, static_cast<unsigned long long>(tokens_per_read),
              a.reads);
  std::printf("synchronous BatchReader : %12.0f tokens/s (%.3f ms per micro-batch)\n", sync_rate,
              sync_s * 1e3 / a.reads);
  std::printf("prefetching loader      : %12.0f tokens/s (%.3f ms per micro-batch, depth %d)\n", loader_rate,
              loader_s * 1e3 / a.reads, a.depth);
  std::printf("training step consumes  : %12.0f tokens/s (%s)%s\n", consume_rate, consume_from.c_str(),
              step_s > compute_s ? "; simulated at 0.2 s per read" : "");
  const double steady_wait = st.wait_seconds - first.wait_seconds;
  const auto steady_waited = static_cast<unsigned long long>(st.waited - first.waited);
  std::printf("consumer run            : %d reads in %.3f s, compute %.3f ms per read; first read waited %.3f ms, "
              "then %llu of %d reads waited, %.3f ms in all (%.3f%% of the run)\n",
              consumer_reads, consumer_s, compute_s * 1e3, first.wait_seconds * 1e3, steady_waited,
              consumer_reads - 1, steady_wait * 1e3, 100.0 * steady_wait / consumer_s);
  std::printf("RESULT loader_tokens_per_s=%.0f sync_tokens_per_s=%.0f consume_tokens_per_s=%.0f headroom=%.1fx "
              "first_wait_ms=%.3f steady_wait_ms=%.3f steady_waited_reads=%llu of %d\n",
              loader_rate, sync_rate, consume_rate, loader_rate / consume_rate, first.wait_seconds * 1e3,
              steady_wait * 1e3, steady_waited, consumer_reads - 1);
  if (!tmp.empty()) fs::remove_all(tmp);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const strata::Error& e) {
    std::fprintf(stderr, "bench_loader: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: error: %s\n", e.what());
    return 1;
  }
}
