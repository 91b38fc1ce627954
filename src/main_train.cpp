// strata-train — trains a GPT model described by an INI configuration (SPEC sections 3, 5, 6).
//   strata-train CONFIG.ini [--section.key=value ...] [--benchmark]
//   strata-train --dry-run CONFIG.ini --world-size N   (the partition of every rank, no MPI: src/dry_run.h)
// Launched directly (one rank) or under mpirun/srun. Exit codes: 0 ok, 2 usage/configuration,
// 3 bad input data, 75 stopped early by SIGUSR1/SIGTERM or train.max_minutes after saving a checkpoint
// (src/stop_signals.h; the job scripts requeue on it), 1 otherwise.
// A rank that fails while the others go on aborts the whole job with its exit code (src/program_main.h).
#include <omp.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/error.h"
#include "kernels/profiling_backend.h"
#include "parallel/mpi_communicator.h"
#include "parallel/mpi_env.h"
#include "parallel/topology.h"
#include "src/batch_source.h"
#include "src/benchmark.h"
#include "src/config.h"
#include "src/device_select.h"
#include "src/dry_run.h"
#include "src/launch_report.h"
#include "src/program_main.h"
#include "src/gemm_probe.h"
#include "src/sgemm_probe.h"
#include "src/stop_signals.h"
#include "src/trainer.h"
#include "src/version.h"

namespace {

const char* kUsage =
    "usage: strata-train CONFIG.ini [--section.key=value ...] [--benchmark]\n"
    "       mpirun -np N strata-train CONFIG.ini [...]\n\n"
    "Trains the GPT model of CONFIG.ini on the token shards of data.train, logging one line per\n"
    "train.log_interval steps (and JSON lines to log.metrics). Any key can be overridden on the\n"
    "command line, e.g. --train.steps=50 --optim.lr=1e-3.\n\n"
    "options:\n"
    "  --help         this text and every configuration key\n"
    "  --version      version and backends\n"
    "  --benchmark    time train.steps steps on synthetic tokens and this machine's sgemm\n"
    "                 throughput, print tokens/s, model FLOP/s and MFU vs sgemm (needs no data)\n"
    "  --dry-run --world-size N [--hardware NAME]\n"
    "                 no MPI, nothing allocated: each of N ranks' layers, parameters, ZeRO shard,\n"
    "                 memory and groups; exit 2 when the layout is invalid or does not fit\n\n"
    "environment: STRATA_PROFILE_OPS=1 times every backend op (one device synchronize each) and rank 0\n"
    "prints a table of where the time went at the end of the run or benchmark (docs/training.md)\n\n"
    "signals: SIGUSR1 or SIGTERM (to any rank) stops every rank at the next step boundary, saves a\n"
    "checkpoint (checkpoint.dir) and exits 75; so does train.max_minutes before the budget ends.\n\n"
    "exit codes: 0 success, 2 usage or configuration error, 3 bad input data,\n"
    "            75 stopped early with a checkpoint saved (run again to resume), 1 otherwise;\n"
    "            a rank that fails alone ends every rank with its code within STRATA_ERROR_EXIT_SECONDS (30)\n";

struct Args {
  std::string config;
  std::vector<std::string> overrides;
  bool benchmark = false, help = false, version = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--help" || s == "-h") a.help = true;
    else if (s == "--version") a.version = true;
    else if (s == "--benchmark") a.benchmark = true;
    else if (s.rfind("--", 0) == 0) {
      a.overrides.push_back(s);
      // "--section.key value" form: the value is the next token unless it is an option itself.
      if (s.find('=') == std::string::npos && i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0)
        a.overrides.push_back(argv[++i]);
    } else if (a.config.empty()) {
      a.config = s;
    } else {
      STRATA_THROW(config, "unexpected argument '", s, "': give one CONFIG.ini (see --help)");
    }
  }
  return a;
}

int run(int argc, char** argv, const strata::MpiSession& mpi, std::chrono::steady_clock::time_point start) {
  using namespace strata;
  const Args args = parse_args(argc, argv);
  const bool root = mpi.rank() == 0;
  if (args.help) {
    if (root) std::printf("%s\n%s", kUsage, config_help().c_str());
    return 0;
  }
  if (args.version) {
    if (root) std::printf("%s\n", version_string().c_str());
    return 0;
  }
  STRATA_CHECK(!args.config.empty() || args.benchmark, config, "no configuration file given (see --help)");
  install_stop_signal_handlers();
  const std::string launch = launch_report(mpi);  // collective
  if (root) std::fputs(launch.c_str(), stdout);
  const Config cfg = load_config(args.config, args.overrides);
  validate_config(cfg, mpi.size());

  const int threads = threads_per_rank(mpi.local_size());
  omp_set_num_threads(threads);
  const char* env_backend = std::getenv("STRATA_BACKEND");
  const char* env_tf32 = std::getenv("STRATA_CUDA_TF32");
  BackendChoice choice = choose_backend(mpi.local_rank(), env_backend ? env_backend : "",
                                        env_tf32 != nullptr && std::strcmp(env_tf32, "1") == 0);
  auto backend = std::move(choice.backend);
  if (root) std::printf("backend: %s\n", choice.reason.c_str());
  if (args.benchmark) {
    if (root) run_benchmark(cfg, *backend, threads);
    return 0;
  }
  STRATA_CHECK(!cfg.data.train.empty(), config, "config key data.train: no training data given (shard files, "
               "directories or globs; make shards with strata-data build)");
  const GptShape shape = cfg.shape();
  // The rank layout and its communicators (tensor, data, pipeline, embedding groups), built once.
  const Topology topology(mpi.size(), mpi.rank(), cfg.parallel.tensor, cfg.parallel.pipeline, cfg.parallel.order);
  const ParallelGroups groups = make_groups_for(topology, *backend);  // NCCL on GPUs, MPI on CPUs
  const int data_rank = topology.dp_rank(), data_size = topology.data_size();
  auto train = make_train_source(cfg, data_rank, data_size);
  std::unique_ptr<BatchSource> valid;
  if (!cfg.data.valid.empty()) valid = make_valid_source(cfg, data_rank, data_size);

  // MFU denominator: log.peak_tflops, else this rank's measured GEMM ceiling (CBLAS sgemm on CPU ranks,
  // the backend's GEMM in the run's precision on a GPU).
  const double peak = cfg.log.peak_tflops > 0                ? cfg.log.peak_tflops * 1e12
                      : backend->kind() == DeviceKind::cpu ? measure_sgemm_gflops(512, 2048, 512, 0.2) * 1e9
                                                           : measure_backend_gemm_gflops(*backend, cfg.train.precision == "bf16",
                                                                                         4096, 4096, 4096, 0.2) * 1e9;
  Trainer trainer(cfg, *backend, std::move(train), std::move(valid), peak, &groups);
  if (root) {
    const double mib = 1024.0 * 1024.0;
    const std::string interleaved =
        cfg.parallel.virtual_stages > 1 ? " x " + std::to_string(cfg.parallel.virtual_stages) + " virtual" : "";
    const char* sp = trainer.model().sequence_parallel() ? ", sequence parallel"
                     : cfg.parallel.sequence_parallel     ? ", sequence parallel off (tensor 1)"
                                                          : "";
    std::printf("%s\nconfig %s | %d ranks (tensor %d x pipeline %d%s x data %d, order %s, ZeRO %d%s) | %d threads per "
                "rank | backend %s | precision %s\n",
                version_string().c_str(), cfg.source.empty() ? "(defaults)" : cfg.source.c_str(), mpi.size(),
                topology.tensor_size(), topology.pipeline_size(), interleaved.c_str(), data_size, cfg.parallel.order.c_str(),
                cfg.parallel.zero_stage, sp, threads, backend->name().c_str(), cfg.train.precision.c_str());
    std::printf("model: %d layers, hidden %d, heads %d, seq %d, vocab %d (padded %d): %lld parameters\n",
                shape.layers, shape.hidden, shape.heads, shape.seq_len, shape.vocab_size, shape.padded_vocab(),
                static_cast<long long>(gpt_parameter_count(shape)));
    // Activations: one set per chunk-micro-batch the schedule keeps in flight on this rank (with the
    // interleaved schedule each set holds 1/virtual_stages of a stage's blocks).
    const GptModel& m = trainer.model();
    const std::string in_flight =
        m.chunks() > 1 ? std::to_string(m.slots()) + " chunk-micro-batches in flight over " +
                             std::to_string(m.chunks()) + " chunks"
                       : std::to_string(m.slots()) + " in flight";
    const Trainer::Memory mem = trainer.memory();
    std::printf("memory per rank: params %.1f MiB, grads %.1f MiB, adam %.1f MiB, activations %.1f MiB (micro-batch "
                "%d, %s)%s\n",
                mem.params / mib, mem.grads / mib, mem.optimizer / mib, mem.activations / mib, cfg.train.micro_batch,
                in_flight.c_str(),
                cfg.parallel.zero_stage == 3 && data_size > 1 ? " | ZeRO-3: params, grads = shard + buffers" : "");
    std::printf("train: %lld steps x %d sequences (%d micro-batches) | data %s | MFU peak %.1f GFLOP/s%s\n",
                static_cast<long long>(cfg.train.steps), cfg.train.global_batch, trainer.micro_batches(),
                cfg.data.train.front().c_str(), peak / 1e9, cfg.log.peak_tflops > 0 ? "" : " (measured sgemm)");
    std::fflush(stdout);
  }
  // Every rank's stop flags reach every rank through its model group (same data rank) and then its data
  // group (same model position): together they span the world.
  StopPolicy stop(
      [&groups](int* flags, int n) {
        groups.model().all_reduce(std::span<int>(flags, n), ReduceOp::max);
        groups.data().all_reduce(std::span<int>(flags, n), ReduceOp::max);
      },
      cfg.train.max_minutes, start);
  MetricsLogger logger(cfg.log.metrics, root);
  profile_reset(*backend);  // STRATA_PROFILE_OPS=1: the op table covers the run's steps, not the set-up
  const StopReason reason = trainer.run(logger, &stop);
  if (root) std::fputs(profile_report(*backend).c_str(), stdout);  // rank 0's ops only
  if (reason == StopReason::none) return 0;
  if (root) {
    const int sig = stop_signal_received();
    const char* how = reason != StopReason::signal ? ""
                      : sig == SIGTERM                ? " (SIGTERM)"
                      : sig == SIGUSR1                ? " (SIGUSR1)"
                                                      : " (received by another rank)";
    char saved[64];
    std::snprintf(saved, sizeof(saved), "step_%08lld", static_cast<long long>(trainer.steps_done()));
    std::printf("stopping at step %lld of %lld: %s%s after %.1f s; %s%s%s, exit %d: run again to resume\n",
                static_cast<long long>(trainer.steps_done()), static_cast<long long>(cfg.train.steps),
                stop_reason_name(reason), how, stop.elapsed_seconds(),
                cfg.checkpoint.dir.empty() ? "no checkpoint.dir, nothing saved" : "checkpoint ",
                cfg.checkpoint.dir.empty() ? "" : (cfg.checkpoint.dir + "/").c_str(),
                cfg.checkpoint.dir.empty() ? "" : saved, kExitStopped);
    std::fflush(stdout);
  }
  return kExitStopped;
}

}  // namespace

int main(int argc, char** argv) {
  if (strata::wants_dry_run(argc, argv)) return strata::dry_run_main(argc, argv);
  const auto start = std::chrono::steady_clock::now();  // train.max_minutes counts from here
  strata::ProgramMain program("strata-train", "strata-train");
  return program.run([&] { return run(argc, argv, program.start_mpi(&argc, &argv), start); });
}
