// gpt2_tensors.cpp — see gpt2_tensors.h.
#include "io/gpt2_tensors.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "kernels/error.h"

namespace strata {

std::size_t shape_elements(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

const NamedTensor* find_tensor(const TensorList& tensors, std::string_view name) {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const NamedTensor& get_tensor(const TensorList& tensors, std::string_view name, const std::string& source) {
  const NamedTensor* t = find_tensor(tensors, name);
  STRATA_CHECK(t, data, source, ": no tensor '", name, "'");
  return *t;
}

std::vector<float> transpose(const std::vector<float>& a, std::int64_t rows, std::int64_t cols) {
  STRATA_CHECK(a.size() == static_cast<std::size_t>(rows * cols), internal, "transpose of ", a.size(),
               " floats as a (", rows, ", ", cols, ") matrix");
  std::vector<float> t(a.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) t[c * rows + r] = a[r * cols + c];
  return t;
}

NamedTensor resize_rows(const NamedTensor& t, std::int64_t rows) {
  STRATA_CHECK(t.shape.size() == 2, internal, "resize_rows of ", t.name, " ", shape_string(t.shape));
  NamedTensor out{t.name, {rows, t.shape[1]}, {}};
  out.data.assign(static_cast<std::size_t>(rows * t.shape[1]), 0.0f);
  const std::size_t keep = static_cast<std::size_t>(std::min(rows, t.shape[0]) * t.shape[1]);
  std::copy(t.data.begin(), t.data.begin() + static_cast<std::ptrdiff_t>(keep), out.data.begin());
  return out;
}

const std::vector<std::string>& gpt2_block_tensor_names() {
  static const std::vector<std::string> names = {
      "ln_1.weight",        "ln_1.bias",       "attn.c_attn.weight", "attn.c_attn.bias",
      "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",       "ln_2.bias",
      "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight", "mlp.c_proj.bias"};
  return names;
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> gpt2_tensor_shapes(const Gpt2Dims& d) {
  const std::int64_t c = d.hidden;
  const std::vector<std::vector<std::int64_t>> block_shapes = {
      {c}, {c}, {3 * c, c}, {3 * c}, {c, c}, {c}, {c}, {c}, {4 * c, c}, {4 * c}, {c, 4 * c}, {c}};
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  out.emplace_back("wte.weight", std::vector<std::int64_t>{d.vocab_size, c});
  out.emplace_back("wpe.weight", std::vector<std::int64_t>{d.positions, c});
  for (int l = 0; l < d.layers; ++l)
    for (std::size_t k = 0; k < block_shapes.size(); ++k)
      out.emplace_back("h." + std::to_string(l) + "." + gpt2_block_tensor_names()[k], block_shapes[k]);
  out.emplace_back("ln_f.weight", std::vector<std::int64_t>{c});
  out.emplace_back("ln_f.bias", std::vector<std::int64_t>{c});
  return out;
}

void check_gpt2_tensors(const TensorList& tensors, const Gpt2Dims& d, const std::string& source) {
  STRATA_CHECK(d.layers > 0 && d.hidden > 0 && d.heads > 0 && d.positions > 0 && d.vocab_size > 0 &&
                   d.hidden % d.heads == 0,
               data, source, ": bad model dimensions: layers ", d.layers, ", hidden ", d.hidden, ", heads ",
               d.heads, ", positions ", d.positions, ", vocab_size ", d.vocab_size,
               " (expected positive values, heads dividing hidden)");
  std::map<std::string, std::vector<std::int64_t>> expected;
  for (auto& [name, shape] : gpt2_tensor_shapes(d)) expected.emplace(name, shape);
  std::map<std::string, int> seen;
  for (const NamedTensor& t : tensors) {
    const auto it = expected.find(t.name);
    STRATA_CHECK(it != expected.end(), data, source, ": unexpected tensor '", t.name, "' ", shape_string(t.shape),
                 " for a GPT-2 model of ", d.layers, " layers");
    STRATA_CHECK(++seen[t.name] == 1, data, source, ": tensor '", t.name, "' appears twice");
    STRATA_CHECK(t.shape == it->second, data, source, ": tensor '", t.name, "' has shape ", shape_string(t.shape),
                 "; expected ", shape_string(it->second), " (layers ", d.layers, ", hidden ", d.hidden,
                 ", positions ", d.positions, ", vocab_size ", d.vocab_size, ")");
    STRATA_CHECK(t.data.size() == shape_elements(t.shape), data, source, ": tensor '", t.name, "' holds ",
                 t.data.size(), " values for shape ", shape_string(t.shape));
  }
  for (const auto& [name, shape] : expected)
    STRATA_CHECK(seen.count(name), data, source, ": missing tensor '", name, "' ", shape_string(shape));
}

TensorList sort_gpt2_tensors(TensorList tensors, const Gpt2Dims& dims, const std::string& source) {
  check_gpt2_tensors(tensors, dims, source);
  std::map<std::string, NamedTensor*> by_name;
  for (NamedTensor& t : tensors) by_name[t.name] = &t;
  TensorList out;
  for (const auto& entry : gpt2_tensor_shapes(dims)) out.push_back(std::move(*by_name.at(entry.first)));
  return out;
}

}  // namespace strata
