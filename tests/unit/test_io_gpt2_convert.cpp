// Tests of the GPT-2 format converters: io/hf_gpt2.h (Hugging Face directory) and io/llmc_checkpoint.h
// (llm.c model file): exact round trips, the orientation and order each format uses, and bad inputs.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/hf_gpt2.h"
#include "io/llmc_checkpoint.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace strata {
namespace {

using test::expect_error;
using test::TempDir;

// A small model with distinct pseudo-random values in every tensor (V=257 is not a multiple of 128).
Gpt2Weights random_gpt2(Gpt2Dims dims = {2, 16, 4, 8, 257}) {
  Gpt2Weights w;
  w.dims = dims;
  std::uint32_t state = 12345;
  for (auto& [name, shape] : gpt2_tensor_shapes(dims)) {
    NamedTensor t{name, shape, std::vector<float>(shape_elements(shape))};
    for (float& v : t.data) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(static_cast<std::int32_t>(state)) * 1e-9f;
    }
    w.tensors.push_back(std::move(t));
  }
  return w;
}

void expect_same(const TensorList& a, const TensorList& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].shape, b[i].shape) << a[i].name;
    EXPECT_TRUE(a[i].data == b[i].data) << a[i].name << " differs";
  }
}

TEST(HfGpt2, MappingTransposesConv1DAndPrefixesNames) {
  const Gpt2Weights w = random_gpt2();
  const TensorList hf = canonical_to_hf(w.tensors);
  ASSERT_EQ(hf.size(), w.tensors.size());
  EXPECT_EQ(find_tensor(hf, "lm_head.weight"), nullptr);
  const NamedTensor& attn = get_tensor(hf, "transformer.h.1.attn.c_attn.weight", "hf");
  const NamedTensor& ours = get_tensor(w.tensors, "h.1.attn.c_attn.weight", "ours");
  ASSERT_EQ(attn.shape, (std::vector<std::int64_t>{16, 48}));  // (in, out)
  for (int out = 0; out < 48; ++out)
    for (int in = 0; in < 16; ++in) ASSERT_EQ(attn.data[in * 48 + out], ours.data[out * 16 + in]);
  EXPECT_EQ(get_tensor(hf, "transformer.h.0.mlp.c_proj.weight", "hf").shape, (std::vector<std::int64_t>{64, 16}));
  EXPECT_EQ(get_tensor(hf, "transformer.h.0.mlp.c_fc.weight", "hf").shape, (std::vector<std::int64_t>{16, 64}));
  EXPECT_EQ(get_tensor(hf, "transformer.wte.weight", "hf").data, get_tensor(w.tensors, "wte.weight", "w").data);
  expect_same(hf_to_canonical(hf, w.dims, "hf"), w.tensors);
}

TEST(HfGpt2, ExportImportRoundTripIsExact) {
  TempDir dir;
  const Gpt2Weights w = random_gpt2();
  export_hf(dir.file("hf"), w);
  const auto config = nlohmann::json::parse(read_whole_file(dir.file("hf/config.json")));
  EXPECT_EQ(config["model_type"], "gpt2");
  EXPECT_EQ(config["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(config["n_embd"], 16);
  EXPECT_EQ(config["n_layer"], 2);
  EXPECT_EQ(config["n_head"], 4);
  EXPECT_EQ(config["n_positions"], 8);
  EXPECT_EQ(config["vocab_size"], 257);
  EXPECT_EQ(config["activation_function"], "gelu_new");
  EXPECT_EQ(config["layer_norm_epsilon"], 1e-5);
  EXPECT_EQ(config["tie_word_embeddings"], true);
  EXPECT_TRUE(config["eos_token_id"].is_null());  // unknown: not HF's default 50256, outside this vocabulary
  EXPECT_EQ(nlohmann::json::parse(hf_config_json(w.dims, 256))["bos_token_id"], 256);
  EXPECT_EQ(read_safetensors(dir.file("hf/model.safetensors")).metadata.at("format"), "pt");
  const Gpt2Weights back = import_hf(dir.file("hf"));
  EXPECT_EQ(back.dims.layers, 2);
  EXPECT_EQ(back.dims.vocab_size, 257);
  expect_same(back.tensors, w.tensors);
}

// A save_pretrained-style directory: names without the prefix in one variant, the tied lm_head, the
// causal-mask buffers of old checkpoints, and a sharded index.
TEST(HfGpt2, ImportsSavePretrainedVariants) {
  TempDir dir;
  const Gpt2Weights w = random_gpt2();
  TensorList hf = canonical_to_hf(w.tensors);
  for (NamedTensor& t : hf) t.name.erase(0, std::string("transformer.").size());
  hf.push_back({"lm_head.weight", {257, 16}, get_tensor(w.tensors, "wte.weight", "w").data});
  hf.push_back({"h.0.attn.bias", {1, 1, 8, 8}, std::vector<float>(64, 1.0f)});
  hf.push_back({"h.1.attn.masked_bias", {}, {-1e4f}});
  dir.write("plain/config.json", hf_config_json(w.dims));
  write_safetensors(dir.file("plain/model.safetensors"), hf);
  expect_same(import_hf(dir.file("plain")).tensors, w.tensors);

  // Sharded: two files and an index.
  dir.write("sharded/config.json", hf_config_json(w.dims));
  const TensorList first(hf.begin(), hf.begin() + 10), second(hf.begin() + 10, hf.end());
  write_safetensors(dir.file("sharded/model-00001-of-00002.safetensors"), first);
  write_safetensors(dir.file("sharded/model-00002-of-00002.safetensors"), second);
  nlohmann::json index;
  for (const NamedTensor& t : first) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const NamedTensor& t : second) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  dir.write("sharded/model.safetensors.index.json", index.dump());
  expect_same(import_hf(dir.file("sharded")).tensors, w.tensors);
}

TEST(HfGpt2, BadDirectoriesAreDataErrors) {
  TempDir dir;
  const Gpt2Weights w = random_gpt2();
  const auto make = [&](const std::string& name, TensorList hf, const std::string& config) {
    dir.write(name + "/config.json", config);
    write_safetensors(dir.file(name + "/model.safetensors"), hf);
    return dir.file(name);
  };
  const std::string config = hf_config_json(w.dims);
  const TensorList hf = canonical_to_hf(w.tensors);

  TensorList untied = hf;
  untied.push_back({"lm_head.weight", {257, 16}, std::vector<float>(257 * 16, 0.5f)});
  expect_error([&] { import_hf(make("untied", untied, config)); }, ErrorKind::data,
               {"untied/model.safetensors", "lm_head.weight", "tied"});
  TensorList missing(hf.begin(), hf.end() - 1);
  expect_error([&] { import_hf(make("missing", missing, config)); }, ErrorKind::data,
               {"missing/model.safetensors", "missing tensor 'ln_f.bias'"});
  TensorList wrong = hf;
  wrong[1] = {"transformer.wpe.weight", {9, 16}, std::vector<float>(9 * 16)};
  expect_error([&] { import_hf(make("shape", wrong, config)); }, ErrorKind::data,
               {"shape/model.safetensors", "'wpe.weight'", "(9, 16)", "expected (8, 16)"});
  TensorList not_transposed = canonical_to_hf(w.tensors);
  for (NamedTensor& t : not_transposed)
    if (t.name == "transformer.h.0.attn.c_attn.weight") t.shape = {48, 16};
  expect_error([&] { import_hf(make("orient", not_transposed, config)); }, ErrorKind::data,
               {"'h.0.attn.c_attn.weight'", "(48, 16)", "expected (16, 48)", "Conv1D"});
  TensorList extra = hf;
  extra.push_back({"transformer.h.2.ln_1.weight", {16}, std::vector<float>(16)});
  expect_error([&] { import_hf(make("extra", extra, config)); }, ErrorKind::data, {"unexpected tensor 'h.2.ln_1.weight'"});

  auto j = nlohmann::json::parse(config);
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"layer_norm_epsilon", 1e-6}, {"activation_function", "gelu"}, {"n_inner", 32},
           {"model_type", "llama"}, {"tie_word_embeddings", false}, {"n_layer", -1}}) {
    auto bad = j;
    bad[key] = value;
    expect_error([&] { import_hf(make("cfg_" + key, hf, bad.dump())); }, ErrorKind::data,
                 {"cfg_" + key + "/config.json", key});
  }
  expect_error([&] { import_hf(make("cfg_json", hf, "{")); }, ErrorKind::data, {"config.json", "not valid JSON"});
  dir.write("empty/config.json", config);
  expect_error([&] { import_hf(dir.file("empty")); }, ErrorKind::data, {"empty/model.safetensors", "not found"});
  expect_error([&] { import_hf(dir.file("nowhere")); }, ErrorKind::data, {"nowhere", "not a directory"});
}

TEST(LlmcCheckpoint, RoundTripIsExactAndLayoutIsLlmcs) {
  TempDir dir;
  const Gpt2Weights w = random_gpt2();
  const Gpt2Dims& d = w.dims;
  const std::string path = dir.file("model.bin");
  write_llmc_checkpoint(path, w);
  const std::string bytes = read_whole_file(path);
  std::int32_t header[256];
  std::memcpy(header, bytes.data(), sizeof(header));
  EXPECT_EQ(header[0], 20240326);
  EXPECT_EQ(header[1], 3);
  EXPECT_EQ(header[2], d.positions);
  EXPECT_EQ(header[3], 257);
  EXPECT_EQ(header[4], d.layers);
  EXPECT_EQ(header[5], d.heads);
  EXPECT_EQ(header[6], d.hidden);
  EXPECT_EQ(header[7], 384);  // 257 rounded up to a multiple of 128
  for (int i = 8; i < 256; ++i) ASSERT_EQ(header[i], 0);
  // Offsets computed by hand from llm.c's fill_in_parameter_sizes: C=16, L=2, T=8, Vp=384.
  const std::size_t C = 16, L = 2, T = 8, Vp = 384;
  const auto at = [&](std::size_t float_index) {
    float v;
    std::memcpy(&v, bytes.data() + 1024 + 4 * float_index, 4);
    return v;
  };
  EXPECT_EQ(bytes.size(), 1024 + 4 * (Vp * C + T * C + L * (12 * C * C + 13 * C) + 2 * C));
  EXPECT_EQ(at(257 * C), 0.0f);  // a padded row
  EXPECT_EQ(at(Vp * C - 1), 0.0f);
  EXPECT_EQ(at(Vp * C), get_tensor(w.tensors, "wpe.weight", "w").data[0]);
  const std::size_t qkvw = Vp * C + T * C + 2 * L * C;  // after wte, wpe, ln1w, ln1b
  EXPECT_EQ(at(qkvw + 3 * C * C + 5), get_tensor(w.tensors, "h.1.attn.c_attn.weight", "w").data[5]);
  const std::size_t fcprojb = qkvw + L * (3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C);
  EXPECT_EQ(at(fcprojb + C + 3), get_tensor(w.tensors, "h.1.mlp.c_proj.bias", "w").data[3]);
  EXPECT_EQ(at(fcprojb + L * C + C + 2), get_tensor(w.tensors, "ln_f.bias", "w").data[2]);

  const Gpt2Weights back = read_llmc_checkpoint(path);
  EXPECT_EQ(back.dims.positions, d.positions);
  EXPECT_EQ(back.dims.vocab_size, 257);
  expect_same(back.tensors, w.tensors);
}

TEST(LlmcCheckpoint, BadFilesAreDataErrors) {
  TempDir dir;
  const std::string good = dir.file("good.bin");
  write_llmc_checkpoint(good, random_gpt2());
  const std::string bytes = read_whole_file(good);
  const auto bad = [&](const std::string& name, std::string b, const std::vector<std::string>& parts) {
    SCOPED_TRACE(name);
    const std::string path = dir.write(name, b);
    std::vector<std::string> want = parts;
    want.push_back(path);
    expect_error([&] { read_llmc_checkpoint(path); }, ErrorKind::data, want);
  };
  const auto with_int = [&](int index, std::int32_t value) {
    std::string b = bytes;
    std::memcpy(b.data() + 4 * index, &value, 4);
    return b;
  };
  bad("magic.bin", with_int(0, 20240520), {"magic 20240520", "expected 20240326", "token file"});
  bad("version.bin", with_int(1, 5), {"version 5", "expected 3", "bf16"});
  bad("heads.bin", with_int(5, 5), {"bad header", "num_heads 5"});
  bad("padded.bin", with_int(7, 200), {"bad header", "padded_vocab_size 200"});
  bad("truncated.bin", bytes.substr(0, bytes.size() - 4), {"truncated"});
  bad("trailing.bin", bytes + "x", {"trailing bytes"});
  bad("header.bin", bytes.substr(0, 100), {"llm.c model header", "truncated"});
  bad("layers.bin", with_int(4, 3), {"truncated"});
}

}  // namespace
}  // namespace strata
