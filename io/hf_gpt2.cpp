// hf_gpt2.cpp — see hf_gpt2.h.
#include "io/hf_gpt2.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

const std::string prefix = "transformer.";

// The per-block tensors HF's Conv1D stores transposed, (in, out).
bool is_conv1d(const std::string& name) {
  static const std::set<std::string> suffixes = {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight",
                                                 ".mlp.c_proj.weight"};
  const auto dot = name.find('.', 2);  // "h.<l>" then the suffix
  return name.starts_with("h.") && dot != std::string::npos && suffixes.count(name.substr(dot));
}

int config_int(const nlohmann::json& j, const char* key, const std::string& source) {
  STRATA_CHECK(j.contains(key), data, source, ": no \"", key, "\"; expected a GPT-2 config.json");
  STRATA_CHECK(j[key].is_number_integer() && j[key].get<std::int64_t>() > 0 &&
                   j[key].get<std::int64_t>() <= std::numeric_limits<int>::max(),
               data, source, ": \"", key, "\" is ", j[key].dump(), "; expected a positive integer");
  return j[key].get<int>();
}

// Refuses a key whose value Strata's model does not compute (the key absent means HF's default).
void require(const nlohmann::json& j, const char* key, bool ok, const char* expected, const std::string& source) {
  STRATA_CHECK(ok, data, source, ": \"", key, "\" is ", j[key].dump(), "; Strata's GPT-2 needs ", expected);
}

}  // namespace

std::string hf_config_json(const Gpt2Dims& d, std::optional<std::int32_t> eos_id) {
  nlohmann::ordered_json j;
  j["architectures"] = {"GPT2LMHeadModel"};
  j["model_type"] = "gpt2";
  j["n_layer"] = d.layers;
  j["n_embd"] = d.hidden;
  j["n_head"] = d.heads;
  j["n_positions"] = d.positions;
  j["n_ctx"] = d.positions;
  j["n_inner"] = nullptr;  // 4 * n_embd
  j["vocab_size"] = d.vocab_size;
  j["layer_norm_epsilon"] = 1e-5;
  j["activation_function"] = "gelu_new";
  j["tie_word_embeddings"] = true;
  j["scale_attn_weights"] = true;
  j["torch_dtype"] = "float32";
  j["bos_token_id"] = eos_id ? nlohmann::ordered_json(*eos_id) : nlohmann::ordered_json(nullptr);
  j["eos_token_id"] = j["bos_token_id"];
  return j.dump(2) + "\n";
}

Gpt2Dims parse_hf_config(const std::string& json_text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    STRATA_THROW(data, source, ": not valid JSON: ", e.what());
  }
  STRATA_CHECK(j.is_object(), data, source, ": not a JSON object");
  if (j.contains("model_type"))
    require(j, "model_type", j["model_type"] == "gpt2", "\"gpt2\"", source);
  Gpt2Dims d;
  d.layers = config_int(j, "n_layer", source);
  d.hidden = config_int(j, "n_embd", source);
  d.heads = config_int(j, "n_head", source);
  d.positions = config_int(j, "n_positions", source);
  d.vocab_size = config_int(j, "vocab_size", source);
  STRATA_CHECK(d.hidden % d.heads == 0, data, source, ": n_head ", d.heads, " does not divide n_embd ", d.hidden);
  if (j.contains("layer_norm_epsilon"))
    require(j, "layer_norm_epsilon",
            j["layer_norm_epsilon"].is_number() && std::abs(j["layer_norm_epsilon"].get<double>() - 1e-5) < 1e-12,
            "1e-05", source);
  if (j.contains("activation_function"))
    require(j, "activation_function",
            j["activation_function"] == "gelu_new" || j["activation_function"] == "gelu_pytorch_tanh",
            "the tanh GELU (\"gelu_new\")", source);
  if (j.contains("n_inner"))
    require(j, "n_inner", j["n_inner"].is_null() || j["n_inner"] == 4 * d.hidden, "null (4 * n_embd)", source);
  for (const char* key : {"scale_attn_weights", "tie_word_embeddings"})
    if (j.contains(key)) require(j, key, j[key] == true, "true", source);
  if (j.contains("scale_attn_by_inverse_layer_idx"))
    require(j, "scale_attn_by_inverse_layer_idx", j["scale_attn_by_inverse_layer_idx"] == false, "false", source);
  return d;
}

TensorList canonical_to_hf(const TensorList& tensors) {
  TensorList out;
  out.reserve(tensors.size());
  for (const NamedTensor& t : tensors) {
    NamedTensor h{prefix + t.name, t.shape, {}};
    if (is_conv1d(t.name)) {
      h.shape = {t.shape[1], t.shape[0]};
      h.data = transpose(t.data, t.shape[0], t.shape[1]);
    } else {
      h.data = t.data;
    }
    out.push_back(std::move(h));
  }
  return out;
}

TensorList hf_to_canonical(TensorList hf, const Gpt2Dims& dims, const std::string& source) {
  static const std::regex buffer(R"(h\.\d+\.attn\.(masked_)?bias)");
  std::map<std::string, std::vector<std::int64_t>> expected;
  for (auto& [name, shape] : gpt2_tensor_shapes(dims)) expected.emplace(name, shape);
  TensorList out;
  std::optional<NamedTensor> lm_head;
  for (NamedTensor& t : hf) {
    if (t.name.starts_with(prefix)) t.name.erase(0, prefix.size());
    if (t.name == "lm_head.weight") {
      lm_head = std::move(t);
      continue;
    }
    if (std::regex_match(t.name, buffer)) continue;
    if (is_conv1d(t.name) && expected.count(t.name)) {
      const auto& want = expected[t.name];
      const std::vector<std::int64_t> hf_shape = {want[1], want[0]};
      STRATA_CHECK(t.shape == hf_shape, data, source, ": tensor '", t.name, "' has shape ", shape_string(t.shape),
                   "; expected ", shape_string(hf_shape), " (HF Conv1D: in, out)");
      t.data = transpose(t.data, t.shape[0], t.shape[1]);
      t.shape = want;
    }
    out.push_back(std::move(t));
  }
  out = sort_gpt2_tensors(std::move(out), dims, source);
  if (lm_head) {
    const NamedTensor& wte = out.front();
    STRATA_CHECK(lm_head->shape == wte.shape && lm_head->data == wte.data, data, source,
                 ": lm_head.weight ", shape_string(lm_head->shape), " differs from wte.weight ", shape_string(wte.shape),
                 "; Strata's output projection is tied to the token embedding (untied heads are not supported)");
  }
  return out;
}

void export_hf(const std::string& dir, const Gpt2Weights& w) {
  check_gpt2_tensors(w.tensors, w.dims, "export_hf");
  std::error_code ec;
  fs::create_directories(dir, ec);
  STRATA_CHECK(!ec, internal, dir, ": cannot create the directory: ", ec.message());
  write_safetensors((fs::path(dir) / "model.safetensors").string(), canonical_to_hf(w.tensors), {{"format", "pt"}});
  write_file_atomically((fs::path(dir) / "config.json").string(), hf_config_json(w.dims, w.eos_id));
}

Gpt2Weights import_hf(const std::string& dir) {
  STRATA_CHECK(fs::is_directory(dir), data, dir, ": not a directory; expected a Hugging Face model directory "
               "(config.json + model.safetensors)");
  const fs::path d(dir);
  Gpt2Weights w;
  const std::string config = (d / "config.json").string();
  w.dims = parse_hf_config(read_whole_file(config, "config.json"), config);
  TensorList hf;
  std::string source = (d / "model.safetensors").string();
  const fs::path index = d / "model.safetensors.index.json";
  if (!fs::exists(source) && fs::exists(index)) {
    // Sharded: weight_map names the file of every tensor.
    source = index.string();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_whole_file(source, "safetensors index"));
    } catch (const nlohmann::json::exception& e) {
      STRATA_THROW(data, source, ": not valid JSON: ", e.what());
    }
    STRATA_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), data, source,
                 ": no \"weight_map\" object");
    std::set<std::string> files;
    for (const auto& [name, file] : j["weight_map"].items()) {
      STRATA_CHECK(file.is_string(), data, source, ": weight_map entry of '", name, "' is not a file name");
      files.insert(file.get<std::string>());
    }
    for (const std::string& f : files)
      for (NamedTensor& t : read_safetensors((d / f).string()).tensors) hf.push_back(std::move(t));
  } else {
    STRATA_CHECK(fs::exists(source), data, source, ": not found",
                 fs::exists(d / "pytorch_model.bin")
                     ? " (the directory holds pytorch_model.bin: save it with save_pretrained(dir, "
                       "safe_serialization=True))"
                     : "");
    hf = std::move(read_safetensors(source).tensors);
  }
  w.tensors = hf_to_canonical(std::move(hf), w.dims, source);
  return w;
}

}  // namespace strata
