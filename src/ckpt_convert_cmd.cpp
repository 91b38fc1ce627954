// ckpt_convert_cmd.cpp — `strata-ckpt export` and `strata-ckpt import`: a checkpoint's model to and from
// Hugging Face GPT-2 (io/hf_gpt2.h) and llm.c (io/llmc_checkpoint.h).
#include <filesystem>
#include <iostream>

#include "io/bpe_tokenizer.h"
#include "io/hf_gpt2.h"
#include "io/llmc_checkpoint.h"
#include "kernels/error.h"
#include "src/checkpoint_model.h"
#include "src/ckpt_commands.h"
#include "src/lr_schedule.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace strata {
namespace {

void check_format(const std::string& format) {
  STRATA_CHECK(format == "hf" || format == "llmc", config, "--format ", format, ": expected hf or llmc");
}

// The configuration of an imported model: --config (its model keys must agree with the weights) or the
// defaults with the weights' model. A config seq_len below the weights' positions keeps the first
// seq_len positions (training at a shorter context); a longer one is refused.
Config import_config(const std::string& path, const Gpt2Dims& d) {
  Config cfg = load_config(path, {});
  auto& m = cfg.model;
  if (path.empty()) {
    m.layers = d.layers;
    m.hidden = d.hidden;
    m.heads = d.heads;
    m.seq_len = d.positions;
    m.vocab_size = d.vocab_size;
  }
  STRATA_CHECK(m.layers == d.layers && m.hidden == d.hidden && m.heads == d.heads && m.vocab_size == d.vocab_size,
               config, path, ": model.layers ", m.layers, ", model.hidden ", m.hidden, ", model.heads ", m.heads,
               ", model.vocab_size ", m.vocab_size, "; the imported model has ", d.layers, " layers, hidden ",
               d.hidden, ", ", d.heads, " heads, vocab_size ", d.vocab_size);
  STRATA_CHECK(m.seq_len <= d.positions, config, path, ": model.seq_len ", m.seq_len,
               " is longer than the imported model's ", d.positions, " learned positions");
  validate_config(cfg, cfg.parallel.tensor * cfg.parallel.pipeline);
  return cfg;
}

}  // namespace

int ckpt_export(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt export --format hf|llmc CHECKPOINT OUT\n"
      "Writes the checkpoint's model (the fp32 parameters; not the optimizer state):\n"
      "  hf    OUT is a directory: model.safetensors + config.json, loadable by Hugging Face transformers\n"
      "        as GPT2LMHeadModel.from_pretrained(OUT) with the same logits; with the training data's\n"
      "        tokenizer (when found as for sample): its end-of-text id in config.json, and a BPE\n"
      "        vocabulary's vocab.json + merges.txt beside the model;\n"
      "  llmc  OUT is llm.c's fp32 model file (gpt2_124M.bin layout, vocabulary padded to 128).\n";
  std::string format;
  bool help = false;
  po::options_description options("options");
  options.add_options()("format", po::value(&format)->required(), "hf or llmc");
  const auto paths = parse_ckpt_command("export", args, usage, options, 2, help);
  if (help) return 0;
  check_format(format);
  const ToolCheckpoint c = load_tool_checkpoint(paths[0]);
  Gpt2Weights weights{gpt2_dims(c.shape), c.contents.params, std::nullopt};
  if (format == "hf") {
    // The training data's tokenizer, when it can be found: its end-of-text id goes to config.json, and
    // a BPE vocabulary is written beside the model (GPT2Tokenizer.from_pretrained(DIR) loads it).
    std::unique_ptr<Tokenizer> tok;
    try {
      tok = checkpoint_tokenizer("", c);
    } catch (const Error&) {
    }
    if (tok) weights.eos_id = tok->eos_id();
    export_hf(paths[1], weights);
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
    if (bpe) write_bpe_vocab(bpe->vocab(), paths[1]);
    std::cout << "strata-ckpt export: wrote " << (fs::path(paths[1]) / "model.safetensors").string() << ", "
              << "config.json" << (bpe ? ", vocab.json, merges.txt" : "") << " (GPT2LMHeadModel, step "
              << c.contents.step << " of " << c.dir << "; tokenizer "
              << (tok ? tok->name() + ", eos " + std::to_string(tok->eos_id()) : std::string("unknown")) << ")\n";
  } else {
    write_llmc_checkpoint(paths[1], weights);
    std::cout << "strata-ckpt export: wrote " << paths[1] << " (llm.c fp32 model, vocabulary padded to "
              << llmc_padded_vocab(c.shape.vocab_size) << ", step " << c.contents.step << " of " << c.dir << ")\n";
  }
  return 0;
}

int ckpt_import(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt import --format hf|llmc [--config FILE.ini] INPUT CHECKPOINT_DIR\n"
      "Makes a Strata checkpoint at step 0 (CHECKPOINT_DIR/step_00000000 and latest) from\n"
      "  hf    INPUT, a Hugging Face GPT-2 directory (config.json + model.safetensors, as written by\n"
      "        export or by save_pretrained; sharded safetensors too);\n"
      "  llmc  INPUT, llm.c's fp32 model file.\n"
      "The Adam moments start at zero. Train from it with checkpoint.dir=CHECKPOINT_DIR and\n"
      "checkpoint.load=auto. --config gives the run's configuration (its model keys must match the\n"
      "imported model; a shorter model.seq_len keeps the first positions); without it the defaults\n"
      "with the imported model are saved.\n";
  std::string format, config_path;
  bool help = false;
  po::options_description options("options");
  options.add_options()("format", po::value(&format)->required(), "hf or llmc")(
      "config", po::value(&config_path), "the configuration (INI) the checkpoint is saved with");
  const auto paths = parse_ckpt_command("import", args, usage, options, 2, help);
  if (help) return 0;
  check_format(format);
  const std::string& out = paths[1];
  STRATA_CHECK(!fs::exists(fs::path(out) / "latest") && !fs::exists(fs::path(out) / checkpoint_step_name(0)), config,
               out, ": already holds checkpoints; import into a new checkpoint directory");
  Gpt2Weights w = format == "hf" ? import_hf(paths[0]) : read_llmc_checkpoint(paths[0]);
  const Config cfg = import_config(config_path, w.dims);
  GptShape shape = cfg.shape();
  shape.tensor = 1;
  for (NamedTensor& t : w.tensors)
    if (t.name == "wpe.weight" && t.shape[0] > shape.seq_len) t = resize_rows(t, shape.seq_len);

  CheckpointContents c;
  c.step = 0;
  c.seed = cfg.train.seed;
  c.lr = LrSchedule{cfg.optim.lr, cfg.optim.min_lr, cfg.optim.warmup_steps, cfg.train.steps, cfg.optim.decay}.at(0);
  c.config_ini = config_to_ini(cfg);
  c.layout = "imported (--format " + format + ") from " + paths[0];
  c.params = std::move(w.tensors);
  check_gpt2_tensors(c.params, gpt2_dims(shape), paths[0]);
  for (const NamedTensor& t : c.params) {
    c.exp_avg.push_back({t.name, t.shape, std::vector<float>(t.data.size(), 0.0f)});
    c.exp_avg_sq.push_back(c.exp_avg.back());
  }
  write_checkpoint(out, c);
  std::cout << "strata-ckpt import: wrote " << (fs::path(out) / checkpoint_step_name(0)).string() << " from "
            << paths[0] << " (" << shape.layers << " layers, hidden " << shape.hidden << ", heads " << shape.heads
            << ", seq_len " << shape.seq_len << ", vocab_size " << shape.vocab_size << "); train from it with "
            << "--checkpoint.dir=" << out << " --checkpoint.load=auto\n";
  return 0;
}

}  // namespace strata
