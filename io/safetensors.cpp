// safetensors.cpp — see safetensors.h.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/import_source.h"
#include "kernels/error.h"

namespace strata {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so is this host");

namespace {

constexpr std::uint64_t max_header_bytes = 100'000'000;  // the limit of the reference implementation

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F64") return 8;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

struct Entry {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

// One tensor's header entry, checked against its dtype and shape.
Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& j) {
  const std::string where = path + ": tensor '" + name + "'";
  STRATA_CHECK(j.is_object() && j.contains("dtype") && j.contains("shape") && j.contains("data_offsets"), data,
               where, ": header entry ", j.dump(), " lacks dtype, shape or data_offsets");
  Entry e;
  e.name = name;
  STRATA_CHECK(j["dtype"].is_string(), data, where, ": dtype ", j["dtype"].dump(), " is not a string");
  e.dtype = j["dtype"].get<std::string>();
  STRATA_CHECK(dtype_bytes(e.dtype) > 0, data, where, ": dtype ", e.dtype, " is not supported (F32, F64, F16, BF16)");
  STRATA_CHECK(j["shape"].is_array(), data, where, ": shape ", j["shape"].dump(), " is not an array");
  for (const auto& d : j["shape"]) {
    STRATA_CHECK(d.is_number_unsigned(), data, where, ": shape ", j["shape"].dump(), " has a non-integer or negative size");
    e.shape.push_back(d.get<std::int64_t>());
  }
  const auto& off = j["data_offsets"];
  STRATA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), data,
               where, ": data_offsets ", off.dump(), " is not [begin, end]");
  e.begin = off[0].get<std::uint64_t>();
  e.end = off[1].get<std::uint64_t>();
  STRATA_CHECK(e.begin <= e.end && e.end - e.begin == shape_elements(e.shape) * dtype_bytes(e.dtype), data, where,
               ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes; shape ",
               shape_string(e.shape), " of ", e.dtype, " needs ", shape_elements(e.shape) * dtype_bytes(e.dtype));
  return e;
}

void convert(const std::string& dtype, const std::vector<unsigned char>& bytes, std::vector<float>& out) {
  const std::size_t n = out.size();
  if (dtype == "F64") {
    for (std::size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, bytes.data() + 8 * i, 8);
      out[i] = static_cast<float>(v);
    }
    return;
  }
  const bool half = dtype == "F16";
  for (std::size_t i = 0; i < n; ++i) {
    const auto bits = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    out[i] = half ? half_to_float(bits) : bfloat16_to_float(bits);
  }
}

}  // namespace

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

SafetensorsFile read_safetensors(const std::string& path) {
  BinaryInput in(path);
  unsigned char len_bytes[8];
  in.read(0, 8, len_bytes, "safetensors header length");
  const auto header_len = load_le<std::uint64_t>(len_bytes);
  STRATA_CHECK(header_len <= max_header_bytes && header_len <= in.size() - 8, data, path,
               ": the safetensors header length is ", header_len, " bytes but the file has ", in.size(),
               " bytes (limit 100 MB): not a safetensors file, or truncated");
  std::string text(header_len, '\0');
  in.read(8, header_len, text.data(), "safetensors header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    STRATA_THROW(data, path, ": the safetensors header is not valid JSON: ", e.what());
  }
  STRATA_CHECK(header.is_object(), data, path, ": the safetensors header is not a JSON object");

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      STRATA_CHECK(value.is_object(), data, path, ": __metadata__ is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        STRATA_CHECK(v.is_string(), data, path, ": __metadata__ value of '", k, "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, value));
  }
  // The buffer: entries sorted by offset must tile [0, buffer size) exactly.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t buffer = 8 + header_len, buffer_size = in.size() - buffer;
  std::uint64_t pos = 0;
  for (const Entry& e : entries) {
    STRATA_CHECK(e.begin == pos, data, path, ": tensor '", e.name, "' starts at buffer offset ", e.begin,
                 "; expected ", pos, e.begin < pos ? " (overlaps the previous tensor)" : " (a hole in the buffer)");
    pos = e.end;
  }
  STRATA_CHECK(pos == buffer_size, data, path, ": the tensors end at buffer offset ", pos, " but the buffer has ",
               buffer_size, " bytes", pos > buffer_size ? " (file truncated)" : " (unexpected bytes at the end)");
  for (const Entry& e : entries) {
    NamedTensor t{e.name, e.shape, std::vector<float>(shape_elements(e.shape))};
    const std::string what = "tensor '" + e.name + "'";
    if (e.dtype == "F32") {
      in.read(buffer + e.begin, e.end - e.begin, t.data.data(), what);
    } else {
      std::vector<unsigned char> bytes(e.end - e.begin);
      in.read(buffer + e.begin, bytes.size(), bytes.data(), what);
      convert(e.dtype, bytes, t.data);
    }
    file.tensors.push_back(std::move(t));
  }
  return file;
}

void write_safetensors(const std::string& path, const TensorList& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    STRATA_CHECK(t.name != "__metadata__" && names.insert(t.name).second, internal, path, ": tensor name '", t.name,
                 "' repeated or reserved");
    STRATA_CHECK(t.data.size() == shape_elements(t.shape), internal, path, ": tensor '", t.name, "' holds ",
                 t.data.size(), " values for shape ", shape_string(t.shape));
    const std::uint64_t bytes = 4 * t.data.size();
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  AtomicFile out(path);
  out.write(len, 8);
  out.write(text);
  for (const NamedTensor& t : tensors) out.write(t.data.data(), 4 * t.data.size());
  out.commit();
}

}  // namespace strata
