// config.cpp — see config.h.
#include "src/config.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "kernels/error.h"

namespace po = boost::program_options;

namespace strata {
namespace {

void require(bool ok, const std::string& key, const std::string& rule) {
  STRATA_CHECK(ok, config, "config key ", key, ": ", rule);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Every key, bound to its field. The defaults shown by --help are the struct defaults.
po::options_description describe(Config& c, std::string& train_list, std::string& valid_list) {
  po::options_description d("Configuration keys (INI [section] key = value, or --section.key=value)");
  d.add_options()
      ("model.layers", po::value(&c.model.layers)->default_value(c.model.layers), "transformer blocks")
      ("model.hidden", po::value(&c.model.hidden)->default_value(c.model.hidden), "hidden size C")
      ("model.heads", po::value(&c.model.heads)->default_value(c.model.heads), "attention heads (divide hidden)")
      ("model.seq_len", po::value(&c.model.seq_len)->default_value(c.model.seq_len), "sequence length T")
      ("model.vocab_size", po::value(&c.model.vocab_size)->default_value(c.model.vocab_size), "vocabulary size")
      ("parallel.tensor", po::value(&c.parallel.tensor)->default_value(c.parallel.tensor), "tensor-parallel size")
      ("parallel.pipeline", po::value(&c.parallel.pipeline)->default_value(c.parallel.pipeline), "pipeline stages")
      ("parallel.virtual_stages", po::value(&c.parallel.virtual_stages)->default_value(c.parallel.virtual_stages),
       "interleaved pipeline chunks per rank")
      ("parallel.zero_stage", po::value(&c.parallel.zero_stage)->default_value(c.parallel.zero_stage), "ZeRO stage 0-3")
      ("parallel.sequence_parallel", po::value(&c.parallel.sequence_parallel)->default_value(false),
       "Megatron sequence parallelism")
      ("parallel.order", po::value(&c.parallel.order)->default_value(c.parallel.order), "rank order, fastest first")
      ("train.micro_batch", po::value(&c.train.micro_batch)->default_value(c.train.micro_batch), "sequences per micro-batch")
      ("train.global_batch", po::value(&c.train.global_batch)->default_value(c.train.global_batch), "sequences per step")
      ("train.steps", po::value(&c.train.steps)->default_value(c.train.steps), "optimizer steps")
      ("train.seed", po::value(&c.train.seed)->default_value(c.train.seed), "seed of initialization and sample order")
      ("train.precision", po::value(&c.train.precision)->default_value(c.train.precision),
       "fp32 or bf16 (bf16 GEMM operands, fp32 master weights; emulated on the CPU backend)")
      ("train.recompute", po::value(&c.train.recompute)->default_value(c.train.recompute), "none, selective, full")
      ("train.grad_clip", po::value(&c.train.grad_clip)->default_value(c.train.grad_clip), "global-norm clip (0: off)")
      ("train.eval_interval", po::value(&c.train.eval_interval)->default_value(c.train.eval_interval),
       "evaluate every N steps (0: only at the end when data.valid is set)")
      ("train.eval_steps", po::value(&c.train.eval_steps)->default_value(c.train.eval_steps), "batches per evaluation")
      ("train.log_interval", po::value(&c.train.log_interval)->default_value(c.train.log_interval), "log every N steps")
      ("train.max_minutes", po::value(&c.train.max_minutes)->default_value(c.train.max_minutes),
       "wall-clock budget in minutes: save a checkpoint and stop (exit 75) before it ends; 0: none")
      ("optim.lr", po::value(&c.optim.lr)->default_value(c.optim.lr), "peak learning rate")
      ("optim.min_lr", po::value(&c.optim.min_lr)->default_value(c.optim.min_lr), "final learning rate")
      ("optim.warmup_steps", po::value(&c.optim.warmup_steps)->default_value(c.optim.warmup_steps), "linear warmup")
      ("optim.decay", po::value(&c.optim.decay)->default_value(c.optim.decay), "cosine, linear or constant")
      ("optim.beta1", po::value(&c.optim.beta1)->default_value(c.optim.beta1), "AdamW beta1")
      ("optim.beta2", po::value(&c.optim.beta2)->default_value(c.optim.beta2), "AdamW beta2")
      ("optim.eps", po::value(&c.optim.eps)->default_value(c.optim.eps), "AdamW epsilon")
      ("optim.weight_decay", po::value(&c.optim.weight_decay)->default_value(c.optim.weight_decay),
       "decoupled weight decay (matrices only)")
      ("data.train", po::value(&train_list), "training shards: files, directories or globs, comma-separated")
      ("data.valid", po::value(&valid_list), "validation shards, same form")
      ("checkpoint.dir", po::value(&c.checkpoint.dir), "checkpoint directory (saves every interval steps and at the end)")
      ("checkpoint.interval", po::value(&c.checkpoint.interval)->default_value(c.checkpoint.interval), "save every N steps (0: only at the end)")
      ("checkpoint.keep", po::value(&c.checkpoint.keep)->default_value(c.checkpoint.keep), "step directories kept")
      ("checkpoint.async", po::value(&c.checkpoint.async)->default_value(false), "write checkpoints on a background thread")
      ("checkpoint.load", po::value(&c.checkpoint.load), "auto (resume from checkpoint.dir/latest if present) or a checkpoint path")
      ("log.metrics", po::value(&c.log.metrics), "JSONL metrics file (rank 0 appends)")
      ("log.peak_tflops", po::value(&c.log.peak_tflops)->default_value(c.log.peak_tflops),
       "peak TFLOP/s per rank for MFU (0: measure sgemm at start-up)");
  return d;
}

}  // namespace

GptShape Config::shape() const {
  GptShape s;
  s.layers = model.layers;
  s.hidden = model.hidden;
  s.heads = model.heads;
  s.seq_len = model.seq_len;
  s.vocab_size = model.vocab_size;
  s.tensor = parallel.tensor;
  return s;
}

namespace {

// The configuration of the INI text `ini` (none: defaults only) named `source`, under `overrides`.
Config parse_config(std::istream* ini, const std::string& source, const std::vector<std::string>& overrides) {
  Config cfg;
  std::string train_list, valid_list;
  const po::options_description desc = describe(cfg, train_list, valid_list);
  // A key given more than once on the command line: the last one wins, as users of job scripts expect
  // when they append an override to a fixed command.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    const std::string& tok = overrides[i];
    const auto eq = tok.find('=');
    std::string key = eq == std::string::npos ? tok : tok.substr(0, eq);
    std::string value = eq != std::string::npos ? tok.substr(eq + 1)
                        : (i + 1 < overrides.size() && overrides[i + 1].rfind("--", 0) != 0) ? overrides[++i]
                                                                                             : std::string();
    std::erase_if(pairs, [&](const auto& kv) { return kv.first == key; });
    pairs.emplace_back(std::move(key), std::move(value));
  }
  std::vector<std::string> tokens;
  for (const auto& [key, value] : pairs) {
    if (value.empty()) {  // "--data.valid=" clears a key: Boost takes an empty value only as its own token
      tokens.push_back(key);
      tokens.emplace_back();
    } else {
      tokens.push_back(key + "=" + value);
    }
  }
  po::variables_map vm;
  // Command-line values are stored first: Boost keeps the first value stored, so they win over the file.
  try {
    po::store(po::command_line_parser(tokens).options(desc).run(), vm);
  } catch (const po::error& e) {
    STRATA_THROW(config, "command line: ", e.what(), " (keys are --section.key=value; see --help)");
  }
  if (ini) {
    try {
      po::store(po::parse_config_file(*ini, desc, false), vm);
    } catch (const po::error& e) {
      STRATA_THROW(config, "config file ", source, ": ", e.what());
    }
    cfg.source = source;
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    STRATA_THROW(config, "configuration: ", e.what());
  }
  cfg.data.train = split_list(train_list);
  cfg.data.valid = split_list(valid_list);
  return cfg;
}

}  // namespace

Config load_config(const std::string& ini_path, const std::vector<std::string>& overrides) {
  if (ini_path.empty()) return parse_config(nullptr, "", overrides);
  std::ifstream in(ini_path);
  STRATA_CHECK(in.good(), config, "config file ", ini_path, ": cannot be opened");
  return parse_config(&in, ini_path, overrides);
}

Config config_from_ini(const std::string& ini_text, const std::string& source) {
  std::istringstream in(ini_text);
  return parse_config(&in, source, {});
}

void validate_layout(const Config& c, int world_size) {
  const auto& m = c.model;
  require(m.layers >= 1, "model.layers", "must be >= 1, found " + std::to_string(m.layers));
  require(m.hidden >= 1, "model.hidden", "must be >= 1, found " + std::to_string(m.hidden));
  require(m.heads >= 1, "model.heads", "must be >= 1, found " + std::to_string(m.heads));
  require(m.hidden % m.heads == 0, "model.heads",
          "must divide model.hidden (" + std::to_string(m.hidden) + "), found " + std::to_string(m.heads));
  require(m.seq_len >= 1, "model.seq_len", "must be >= 1, found " + std::to_string(m.seq_len));
  require(m.vocab_size >= 2, "model.vocab_size", "must be >= 2, found " + std::to_string(m.vocab_size));

  const auto& p = c.parallel;
  require(p.tensor >= 1, "parallel.tensor", "must be >= 1, found " + std::to_string(p.tensor));
  require(p.pipeline >= 1, "parallel.pipeline", "must be >= 1, found " + std::to_string(p.pipeline));
  require(p.virtual_stages >= 1, "parallel.virtual_stages", "must be >= 1, found " + std::to_string(p.virtual_stages));
  require(world_size % (p.tensor * p.pipeline) == 0, "parallel.tensor",
          "parallel.tensor * parallel.pipeline = " + std::to_string(p.tensor * p.pipeline) +
              " must divide the world size " + std::to_string(world_size));
  require(m.heads % p.tensor == 0, "parallel.tensor",
          "must divide model.heads (" + std::to_string(m.heads) + "), found " + std::to_string(p.tensor));
  require(m.layers % (p.pipeline * p.virtual_stages) == 0, "parallel.pipeline",
          "parallel.pipeline * parallel.virtual_stages = " + std::to_string(p.pipeline * p.virtual_stages) +
              " must divide model.layers (" + std::to_string(m.layers) + ")");
  // Sequence parallelism splits each micro-batch's B*T rows evenly over the tensor ranks. On one tensor
  // rank there is nothing to split and the key has no effect (as in Megatron-LM).
  require(!p.sequence_parallel || (static_cast<int64_t>(c.train.micro_batch) * m.seq_len) % p.tensor == 0,
          "parallel.sequence_parallel",
          "needs train.micro_batch * model.seq_len = " + std::to_string(c.train.micro_batch) + " * " +
              std::to_string(m.seq_len) + " divisible by parallel.tensor = " + std::to_string(p.tensor));
  require(p.zero_stage >= 0 && p.zero_stage <= 3, "parallel.zero_stage",
          "must be 0, 1, 2 or 3, found " + std::to_string(p.zero_stage));
  {
    auto parts = split_list(p.order);
    std::sort(parts.begin(), parts.end());
    require(parts == std::vector<std::string>{"dp", "pp", "tp"}, "parallel.order",
            "must be a permutation of tp,dp,pp, found '" + p.order + "'");
  }
  const int data = c.data_parallel(world_size);
  const auto& t = c.train;
  require(t.micro_batch >= 1, "train.micro_batch", "must be >= 1, found " + std::to_string(t.micro_batch));
  require(t.global_batch >= 1 && data >= 1 && t.global_batch % (t.micro_batch * std::max(data, 1)) == 0,
          "train.global_batch",
          "must be a positive multiple of train.micro_batch * data-parallel size = " + std::to_string(t.micro_batch) +
              " * " + std::to_string(data) + ", found " + std::to_string(t.global_batch));
  if (p.virtual_stages > 1) {
    // Interleaved 1F1B sends groups of parallel.pipeline micro-batches through each model chunk in turn
    // (parallel/pipeline_schedule.h), as Megatron-LM does.
    require(p.pipeline > 1, "parallel.virtual_stages",
            "interleaved pipeline chunks (" + std::to_string(p.virtual_stages) + ") need parallel.pipeline > 1");
    const int micro_batches = t.global_batch / (t.micro_batch * std::max(data, 1));
    require(micro_batches % p.pipeline == 0, "parallel.virtual_stages",
            "the interleaved schedule (virtual_stages = " + std::to_string(p.virtual_stages) +
                ") needs the micro-batches per step, train.global_batch / (train.micro_batch * data) = " +
                std::to_string(t.global_batch) + " / (" + std::to_string(t.micro_batch) + " * " + std::to_string(data) +
                ") = " + std::to_string(micro_batches) + ", to be a multiple of parallel.pipeline = " +
                std::to_string(p.pipeline) + " (change train.global_batch or set parallel.virtual_stages = 1)");
  }
  require(t.steps >= 0, "train.steps", "must be >= 0, found " + std::to_string(t.steps));
  require(t.precision == "fp32" || t.precision == "bf16", "train.precision",
          "must be fp32 or bf16, found '" + t.precision + "'");
  require(t.recompute == "none" || t.recompute == "selective" || t.recompute == "full", "train.recompute",
          "must be none, selective or full, found '" + t.recompute + "'");
  require(t.grad_clip >= 0, "train.grad_clip", "must be >= 0 (0 disables clipping)");
  require(t.eval_interval >= 0, "train.eval_interval", "must be >= 0");
  require(t.eval_steps >= 0, "train.eval_steps", "must be >= 0");
  require(t.log_interval >= 1, "train.log_interval", "must be >= 1");
  require(t.max_minutes >= 0 && std::isfinite(t.max_minutes), "train.max_minutes",
          "must be a finite number of minutes >= 0 (0: no budget), found " + std::to_string(t.max_minutes));

  const auto& o = c.optim;
  require(o.lr > 0, "optim.lr", "must be > 0");
  require(o.min_lr >= 0 && o.min_lr <= o.lr, "optim.min_lr", "must be in [0, optim.lr]");
  require(o.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0");
  require(o.decay == "cosine" || o.decay == "linear" || o.decay == "constant", "optim.decay",
          "must be cosine, linear or constant, found '" + o.decay + "'");
  require(o.beta1 >= 0 && o.beta1 < 1, "optim.beta1", "must be in [0, 1)");
  require(o.beta2 >= 0 && o.beta2 < 1, "optim.beta2", "must be in [0, 1)");
  require(o.eps > 0, "optim.eps", "must be > 0");
  require(o.weight_decay >= 0, "optim.weight_decay", "must be >= 0");
  require(c.checkpoint.interval >= 0, "checkpoint.interval", "must be >= 0");
  require(c.checkpoint.keep >= 1, "checkpoint.keep", "must be >= 1");
  require(c.checkpoint.interval == 0 || !c.checkpoint.dir.empty(), "checkpoint.interval",
          "saving every " + std::to_string(c.checkpoint.interval) + " steps needs checkpoint.dir");
  require(c.checkpoint.load != "auto" || !c.checkpoint.dir.empty(), "checkpoint.load",
          "auto resumes from checkpoint.dir, which is not set (set it, or give a checkpoint path)");
  require(!c.checkpoint.async || !c.checkpoint.dir.empty(), "checkpoint.async", "needs checkpoint.dir");
  require(c.log.peak_tflops >= 0, "log.peak_tflops", "must be >= 0");
}

void validate_config(const Config& c, int world_size) {
  validate_layout(c, world_size);
  // Every key validate_layout accepts is implemented in this build: train.precision=bf16 included (bf16
  // GEMMs on CUDA, emulated on the CPU backend).
}

std::string config_to_ini(const Config& c) {
  std::ostringstream os;
  os << "[model]\nlayers = " << c.model.layers << "\nhidden = " << c.model.hidden << "\nheads = " << c.model.heads
     << "\nseq_len = " << c.model.seq_len << "\nvocab_size = " << c.model.vocab_size << "\n\n[parallel]\ntensor = "
     << c.parallel.tensor << "\npipeline = " << c.parallel.pipeline << "\nvirtual_stages = " << c.parallel.virtual_stages
     << "\nzero_stage = " << c.parallel.zero_stage << "\nsequence_parallel = " << std::boolalpha
     << c.parallel.sequence_parallel << "\norder = " << c.parallel.order << "\n\n[train]\nmicro_batch = "
     << c.train.micro_batch << "\nglobal_batch = " << c.train.global_batch << "\nsteps = " << c.train.steps
     << "\nseed = " << c.train.seed << "\nprecision = " << c.train.precision << "\nrecompute = " << c.train.recompute
     << "\ngrad_clip = " << c.train.grad_clip << "\neval_interval = " << c.train.eval_interval
     << "\neval_steps = " << c.train.eval_steps << "\nlog_interval = " << c.train.log_interval
     << "\nmax_minutes = " << c.train.max_minutes << "\n\n[optim]\nlr = "
     << c.optim.lr << "\nmin_lr = " << c.optim.min_lr << "\nwarmup_steps = " << c.optim.warmup_steps
     << "\ndecay = " << c.optim.decay << "\nbeta1 = " << c.optim.beta1 << "\nbeta2 = " << c.optim.beta2
     << "\neps = " << c.optim.eps << "\nweight_decay = " << c.optim.weight_decay << "\n\n[data]\ntrain = "
     << join_list(c.data.train) << "\nvalid = " << join_list(c.data.valid) << "\n\n[checkpoint]\ndir = "
     << c.checkpoint.dir << "\ninterval = " << c.checkpoint.interval << "\nkeep = " << c.checkpoint.keep
     << "\nasync = " << c.checkpoint.async << "\nload = " << c.checkpoint.load << "\n\n[log]\nmetrics = "
     << c.log.metrics << "\npeak_tflops = " << c.log.peak_tflops << "\n";
  return os.str();
}

std::string config_help() {
  Config c;
  std::string a, b;
  std::ostringstream os;
  os << describe(c, a, b);
  return os.str();
}

}  // namespace strata
