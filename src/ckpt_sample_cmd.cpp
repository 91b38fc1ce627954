// ckpt_sample_cmd.cpp — `strata-ckpt sample` (text from a checkpoint's model) and `strata-ckpt logits`
// (its next-token logits for given tokens, for comparisons with other implementations).
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "io/byte_tokenizer.h"
#include "kernels/error.h"
#include "src/checkpoint_model.h"
#include "src/ckpt_commands.h"
#include "src/sampler.h"

namespace po = boost::program_options;

namespace strata {
namespace {

// A whole model on this process holding the checkpoint's parameters.
struct LoadedModel {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  std::unique_ptr<GptModel> model;
};

void load_model(LoadedModel& m, const ToolCheckpoint& c) {
  m.model = std::make_unique<GptModel>(*m.backend, c.shape, ModelPartition{}, 1);
  m.model->set_parameters(flat_parameters(m.model->layout(), c.shape, c.contents.params, c.dir));
}

}  // namespace

int ckpt_sample(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt sample [options] CHECKPOINT\n"
      "Generates text from the checkpoint's model on this process: the prompt, then up to --tokens\n"
      "sampled tokens (stopping at the end-of-document token). The tokenizer is the one the\n"
      "training data was built with: the byte tokenizer, or the vocab.json + merges.txt beside the\n"
      "first shard of the saved data.train (paths as seen from the current directory).\n";
  std::string prompt, tokenizer;
  int count = 0;
  SampleOptions o;
  bool help = false;
  po::options_description options("options");
  options.add_options()("prompt", po::value(&prompt)->default_value(""), "text to continue (empty: a new document)")(
      "tokens", po::value(&count)->default_value(200), "tokens to generate")(
      "temperature", po::value(&o.temperature)->default_value(0.8), "softmax temperature; 0: greedy")(
      "top-k", po::value(&o.top_k)->default_value(40), "sample among the k most likely tokens; 0: all")(
      "seed", po::value(&o.seed)->default_value(1234), "sampling seed (same seed, same text)")(
      "tokenizer", po::value(&tokenizer), "byte, or a directory holding vocab.json + merges.txt");
  const auto paths = parse_ckpt_command("sample", args, usage, options, 1, help);
  if (help) return 0;
  STRATA_CHECK(count >= 0, config, "--tokens ", count, ": expected a count >= 0");
  const ToolCheckpoint c = load_tool_checkpoint(paths[0]);
  const std::unique_ptr<Tokenizer> tok = checkpoint_tokenizer(tokenizer, c);
  STRATA_CHECK(tok->vocab_size() <= c.shape.vocab_size, config, "the ", tok->name(), " tokenizer has ",
               tok->vocab_size(), " tokens; the model only ", c.shape.vocab_size);
  std::vector<std::int32_t> tokens = tok->encode(prompt);
  if (tokens.empty()) tokens.push_back(tok->eos_id());
  const std::size_t context = tokens.size();
  LoadedModel m;
  load_model(m, c);
  generate_tokens(*m.model, tokens, count, o, tok->eos_id());
  std::vector<std::int32_t> generated(tokens.begin() + static_cast<std::ptrdiff_t>(context), tokens.end());
  // Ids the tokenizer does not have (a model vocabulary larger than the tokenizer's) print as <id>.
  std::string text;
  for (const std::int32_t id : generated) {
    if (id < tok->vocab_size())
      text += tok->decode(std::span(&id, 1));
    else
      text.append("<").append(std::to_string(id)).append(">");  // append: GCC 12 warns falsely on "<" + ...
  }
  std::cout << prompt << text << (text.ends_with('\n') ? "" : "\n");
  return 0;
}

int ckpt_logits(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-ckpt logits --tokens ID,ID,... CHECKPOINT\n"
      "Prints the model's logits after each of the given tokens (1 to model.seq_len ids): one line per\n"
      "position with vocab_size values (%.9g). For comparisons with other implementations.\n";
  std::string list;
  bool help = false;
  po::options_description options("options");
  options.add_options()("tokens", po::value(&list)->required(), "comma-separated token ids");
  const auto paths = parse_ckpt_command("logits", args, usage, options, 1, help);
  if (help) return 0;
  std::vector<std::int32_t> tokens;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    int id = -1;
    try {
      id = std::stoi(item, &used);
    } catch (const std::exception&) {
    }
    STRATA_CHECK(used == item.size() && id >= 0, config, "--tokens: '", item, "' is not a token id");
    tokens.push_back(id);
  }
  const ToolCheckpoint c = load_tool_checkpoint(paths[0]);
  LoadedModel m;
  load_model(m, c);
  const std::vector<float> logits = next_token_logits(*m.model, tokens);
  const std::size_t v = static_cast<std::size_t>(c.shape.vocab_size);
  for (std::size_t r = 0; r < tokens.size(); ++r)
    for (std::size_t i = 0; i < v; ++i) std::printf("%.9g%c", logits[r * v + i], i + 1 < v ? ' ' : '\n');
  return 0;
}

}  // namespace strata
