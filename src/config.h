// config.h — the run configuration (SPEC section 5): INI files read with Boost.Program_options, any key
// overridable on the command line as --section.key=value, validated identically on every rank
// before anything large is allocated. Validation errors are Error{config} (exit 2) naming the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/gpt_shape.h"

namespace strata {

struct ModelConfig {
  int layers = 2, hidden = 64, heads = 4, seq_len = 64, vocab_size = 257;
};

struct ParallelConfig {
  int tensor = 1, pipeline = 1, virtual_stages = 1, zero_stage = 1;
  bool sequence_parallel = false;
  std::string order = "tp,dp,pp";
};

struct TrainConfig {
  int micro_batch = 4, global_batch = 8;
  int64_t steps = 100;
  uint64_t seed = 1234;
  std::string precision = "fp32", recompute = "none";
  double grad_clip = 1.0;
  int64_t eval_interval = 0, eval_steps = 10, log_interval = 1;
  double max_minutes = 0;  // wall-clock budget of this run; 0: none (src/stop_policy.h)
};

struct OptimConfig {
  double lr = 6e-4, min_lr = 6e-5;
  int64_t warmup_steps = 0;
  std::string decay = "cosine";
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

struct DataConfig {
  std::vector<std::string> train, valid;  // files, directories or globs (comma-separated in INI)
};

struct CheckpointConfig {
  std::string dir, load;
  int64_t interval = 0;
  int keep = 2;
  bool async = false;
};

struct LogConfig {
  std::string metrics;
  double peak_tflops = 0.0;  // MFU denominator; 0 = measure this rank's sgemm throughput at start-up
};

struct Config {
  ModelConfig model;
  ParallelConfig parallel;
  TrainConfig train;
  OptimConfig optim;
  DataConfig data;
  CheckpointConfig checkpoint;
  LogConfig log;
  std::string source;  // the INI file it was read from (empty: defaults + command line only)

  GptShape shape() const;
  int data_parallel(int world_size) const { return world_size / (parallel.tensor * parallel.pipeline); }
};

// Parses `overrides` ("--section.key=value" or "--section.key value" tokens) on top of the INI file
// `ini_path` (may be empty) on top of the defaults. Throws Error{config} for an unreadable file, an
// unknown key or a value of the wrong type, naming the key (and the file).
Config load_config(const std::string& ini_path, const std::vector<std::string>& overrides);

// The configuration of INI text (e.g. the one a checkpoint was saved with); `source` names it in errors.
Config config_from_ini(const std::string& ini_text, const std::string& source);

// Checks every rule of SPEC section 5 for a run on `world_size` ranks: values and the layout (group
// sizes, divisibility of heads, layers and batches). Says nothing about what this build can run, so
// the planner and strata-train --dry-run use it for layouts of any size. Throws Error{config} with the
// key and the rule.
void validate_layout(const Config& cfg, int world_size);

// validate_layout, then that the features the configuration asks for exist in this build (what a real
// training run checks). Throws Error{config} with the key and the rule.
void validate_config(const Config& cfg, int world_size);

// The INI text of a configuration (every key), for logs and checkpoints.
std::string config_to_ini(const Config& cfg);

// Help text listing every key with its default and meaning.
std::string config_help();

}  // namespace strata
