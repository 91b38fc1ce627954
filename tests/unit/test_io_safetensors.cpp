// Tests of io/safetensors.h: round trip, the dtypes read, and every malformed-file check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace strata {
namespace {

using test::expect_error;
using test::TempDir;

// A safetensors file from its header text and data buffer.
std::string safetensors_bytes(const std::string& header, const std::string& buffer) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  return out + header + buffer;
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), 4 * v.size());
}

TEST(Safetensors, RoundTripIsExact) {
  TempDir dir;
  TensorList tensors = {{"a.weight", {2, 3}, {1.5f, -2.0f, 3.25f, 1e-30f, -0.0f, 7e30f}},
                        {"b", {4}, {0.1f, 0.2f, 0.3f, 0.4f}},
                        {"scalar", {}, {42.0f}},
                        {"empty", {0, 5}, {}}};
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, tensors, {{"format", "pt"}});
  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const NamedTensor& t : tensors) {
    const NamedTensor* r = find_tensor(f.tensors, t.name);
    ASSERT_NE(r, nullptr) << t.name;
    EXPECT_EQ(r->shape, t.shape) << t.name;
    EXPECT_EQ(0, std::memcmp(r->data.data(), t.data.data(), 4 * t.data.size())) << t.name;
  }
  // The buffer starts 8-byte aligned.
  const std::string bytes = read_whole_file(path);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, ReadsHalfBfloatAndDouble) {
  TempDir dir;
  // F16: 1.0, -2.0, 2^-24 (smallest subnormal), inf; BF16: 1.0, -3.0; F64: 0.5
  const std::string f16("\x00\x3c\x00\xc0\x01\x00\x00\x7c", 8), bf16("\x80\x3f\x40\xc0", 4);
  double half = 0.5;
  const std::string f64(reinterpret_cast<const char*>(&half), 8);
  const std::string header = R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
                             R"("d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}})";
  const SafetensorsFile f = read_safetensors(dir.write("x.safetensors", safetensors_bytes(header, f16 + bf16 + f64)));
  const auto& h = get_tensor(f.tensors, "h", "x").data;
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(h[3]));
  EXPECT_EQ(get_tensor(f.tensors, "b", "x").data, (std::vector<float>{1.0f, -3.0f}));
  EXPECT_EQ(get_tensor(f.tensors, "d", "x").data, (std::vector<float>{0.5f}));
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0200), std::ldexp(1.0f, -15));  // subnormal
}

TEST(Safetensors, MalformedFilesAreDataErrorsNamingFileAndTensor) {
  TempDir dir;
  const std::string two = f32_bytes({1.0f, 2.0f});
  const auto bad = [&](const std::string& name, const std::string& bytes, const std::vector<std::string>& parts) {
    SCOPED_TRACE(name);
    const std::string path = dir.write(name, bytes);
    std::vector<std::string> want = parts;
    want.push_back(path);
    expect_error([&] { read_safetensors(path); }, ErrorKind::data, want);
  };
  bad("short", std::string("\x05\x00", 2), {"8 bytes", "truncated"});
  std::string huge = safetensors_bytes("{}", "");
  huge[0] = '\x7f';  // 127 header bytes in a 10-byte file
  bad("huge_header", huge, {"header length"});
  bad("not_json", safetensors_bytes("{\"a\": [1,", ""), {"not valid JSON"});
  bad("array", safetensors_bytes("[1]", ""), {"not a JSON object"});
  bad("no_dtype", safetensors_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", two), {"'w'", "lacks dtype"});
  bad("int_dtype", safetensors_bytes(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", two),
      {"'w'", "I64", "not supported"});
  bad("shape_size", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", two),
      {"'w'", "needs 12"});
  bad("negative", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", two),
      {"'w'", "negative"});
  bad("hole", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", two),
      {"'w'", "hole"});
  bad("overlap",
      safetensors_bytes(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", two),
      {"'w'", "overlaps"});
  bad("truncated", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", two.substr(0, 6)),
      {"truncated"});
  bad("trailing", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", two + "xx"),
      {"unexpected bytes at the end"});
  bad("metadata", safetensors_bytes(R"({"__metadata__":{"format":1}})", ""), {"__metadata__", "format"});
  expect_error([&] { read_safetensors(dir.file("missing.safetensors")); }, ErrorKind::data,
               {"missing.safetensors", "not found"});
}

}  // namespace
}  // namespace strata
