// llmc_checkpoint.cpp — see llmc_checkpoint.h.
#include "io/llmc_checkpoint.h"

#include <array>
#include <map>

#include "io/atomic_file.h"
#include "io/import_source.h"
#include "kernels/error.h"

namespace strata {
namespace {

constexpr std::size_t header_ints = 256;

// The canonical tensor names of every block, one block-kind at a time: llm.c's stacked tensor k holds
// "h.<l>.<block name k>" for l = 0..L-1.
std::string block_name(int layer, const std::string& kind) { return "h." + std::to_string(layer) + "." + kind; }

}  // namespace

std::int64_t llmc_padded_vocab(std::int64_t vocab_size) { return (vocab_size + 127) / 128 * 128; }

void write_llmc_checkpoint(const std::string& path, const Gpt2Weights& w) {
  const Gpt2Dims& d = w.dims;
  check_gpt2_tensors(w.tensors, d, "write_llmc_checkpoint");
  const std::int64_t vp = llmc_padded_vocab(d.vocab_size);
  std::array<std::int32_t, header_ints> header{};
  header[0] = llmc_model_magic;
  header[1] = llmc_model_version_fp32;
  header[2] = d.positions;
  header[3] = d.vocab_size;
  header[4] = d.layers;
  header[5] = d.heads;
  header[6] = d.hidden;
  header[7] = static_cast<std::int32_t>(vp);
  AtomicFile out(path);
  out.write(header.data(), sizeof(header));
  const auto put = [&](const std::string& name) {
    const NamedTensor& t = get_tensor(w.tensors, name, "write_llmc_checkpoint");
    out.write(t.data.data(), 4 * t.data.size());
  };
  put("wte.weight");
  const std::vector<float> pad(static_cast<std::size_t>((vp - d.vocab_size) * d.hidden), 0.0f);
  out.write(pad.data(), 4 * pad.size());
  put("wpe.weight");
  for (const std::string& kind : gpt2_block_tensor_names())
    for (int l = 0; l < d.layers; ++l) put(block_name(l, kind));
  put("ln_f.weight");
  put("ln_f.bias");
  out.commit();
}

Gpt2Weights read_llmc_checkpoint(const std::string& path) {
  BinaryInput in(path);
  std::array<unsigned char, 4 * header_ints> raw{};
  in.read(0, raw.size(), raw.data(), "llm.c model header");
  std::array<std::int32_t, header_ints> h{};
  for (std::size_t i = 0; i < header_ints; ++i) h[i] = load_le<std::int32_t>(raw.data() + 4 * i);
  STRATA_CHECK(h[0] == llmc_model_magic, data, path, ": magic ", h[0], "; expected ", llmc_model_magic,
               " (an llm.c GPT-2 model file)", h[0] == 20240520 ? "; this is an llm.c token file (strata-data import)" : "");
  STRATA_CHECK(h[1] == llmc_model_version_fp32, data, path, ": version ", h[1], "; expected ",
               llmc_model_version_fp32, " (fp32 with padded vocabulary)",
               h[1] == 5 ? "; version 5 is bf16: write fp32 with llm.c's train_gpt2.py" : "");
  Gpt2Weights w;
  Gpt2Dims& d = w.dims;
  d.positions = h[2];
  d.vocab_size = h[3];
  d.layers = h[4];
  d.heads = h[5];
  d.hidden = h[6];
  const std::int64_t vp = h[7];
  STRATA_CHECK(d.positions > 0 && d.vocab_size > 0 && d.layers > 0 && d.heads > 0 && d.hidden > 0 &&
                   d.hidden % d.heads == 0 && vp >= d.vocab_size,
               data, path, ": bad header: max_seq_len ", d.positions, ", vocab_size ", d.vocab_size, ", num_layers ",
               d.layers, ", num_heads ", d.heads, ", channels ", d.hidden, ", padded_vocab_size ", vp);
  // The expected size, then the tensors in file order.
  std::uint64_t params = static_cast<std::uint64_t>(vp - d.vocab_size) * d.hidden;
  for (const auto& [name, shape] : gpt2_tensor_shapes(d)) params += shape_elements(shape);
  const std::uint64_t want = 4 * header_ints + 4 * params;
  STRATA_CHECK(in.size() == want, data, path, ": ", in.size(), " bytes; expected ", want, " (header + ", params,
               " fp32 parameters for these dimensions)", in.size() < want ? ": truncated" : ": trailing bytes");
  std::uint64_t offset = 4 * header_ints;
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (auto& [name, shape] : gpt2_tensor_shapes(d)) shapes.emplace(name, shape);
  const auto take = [&](const std::string& name) {
    NamedTensor t{name, shapes.at(name), std::vector<float>(shape_elements(shapes.at(name)))};
    in.read(offset, 4 * t.data.size(), t.data.data(), name);
    offset += 4 * t.data.size();
    w.tensors.push_back(std::move(t));
  };
  take("wte.weight");
  offset += 4 * static_cast<std::uint64_t>(vp - d.vocab_size) * d.hidden;  // padded rows: unused
  take("wpe.weight");
  for (const std::string& kind : gpt2_block_tensor_names())
    for (int l = 0; l < d.layers; ++l) take(block_name(l, kind));
  take("ln_f.weight");
  take("ln_f.bias");
  w.tensors = sort_gpt2_tensors(std::move(w.tensors), d, path);
  return w;
}

}  // namespace strata
