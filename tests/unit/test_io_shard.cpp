// test_io_shard.cpp — HDF5 token shards: ShardWriter round trips, files of other physical layouts
// written with the HDF5 C API read identically, and every malformed file is an Error (data) naming it.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "io/shard.h"
#include "io/token_dataset.h"
#include "kernels/error.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using strata::test::TempDir;
using strata::test::expect_error;



// A file of the shard shape written directly with the HDF5 C API, in any physical layout.
struct RawShard {
  hid_t file_type = H5T_STD_U16LE;
  std::vector<hsize_t> dims;
  hsize_t chunk = 0;  // 0: contiguous
  int deflate = 0;    // gzip level, needs chunk
  bool vocab_attr = true;
  hid_t vocab_type = H5T_STD_I64LE;
  std::int64_t vocab_size = 257;
  std::optional<std::int64_t> eos_id;
  bool tokens = true;
};

RawShard raw(hid_t file_type, std::vector<hsize_t> dims, hsize_t chunk = 0, int deflate = 0) {
  RawShard r;
  r.file_type = file_type;
  r.dims = std::move(dims);
  r.chunk = chunk;
  r.deflate = deflate;
  return r;
}

void write_raw(const std::string& path, const RawShard& r, const std::vector<std::uint32_t>& values) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  if (r.tokens) {
    hid_t space = H5Screate_simple(static_cast<int>(r.dims.size()), r.dims.data(), nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (r.chunk) {
      std::vector<hsize_t> chunk(r.dims.size(), 1);
      chunk.back() = r.chunk;
      H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
      if (r.deflate) H5Pset_deflate(dcpl, static_cast<unsigned>(r.deflate));
    }
    hid_t dset = H5Dcreate2(file, "tokens", r.file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(dset, 0);
    if (!values.empty()) {
      ASSERT_GE(H5Dwrite(dset, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    }
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  auto attr = [&](const char* name, hid_t type, std::int64_t v) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    if (H5Tget_class(type) == H5T_FLOAT) {
      const double d = static_cast<double>(v);
      H5Awrite(a, H5T_NATIVE_DOUBLE, &d);
    } else {
      H5Awrite(a, H5T_NATIVE_INT64, &v);
    }
    H5Aclose(a);
    H5Sclose(s);
  };
  if (r.vocab_attr) attr("vocab_size", r.vocab_type, r.vocab_size);
  if (r.eos_id) attr("eos_id", H5T_STD_I64LE, *r.eos_id);
  H5Fclose(file);
}

std::vector<std::int32_t> read_all(const Shard& s) {
  std::vector<std::int32_t> out(s.num_tokens());
  s.read(0, out.size(), out.data());
  return out;
}

std::vector<std::uint32_t> pattern(std::size_t n, std::uint32_t vocab) {
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint32_t>((i * 7919 + 13) % vocab);
  return v;
}

}  // namespace

TEST(IoShard, WriterRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("s.h5");
  std::vector<std::int32_t> tokens(1000);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(i % 257);
  {
    ShardWriter w(path, 257, 256, /*chunk_tokens=*/7);  // odd chunk: many flushes and a partial last chunk
    w.begin_document();
    w.append(std::span(tokens).first(300));
    w.begin_document();
    w.append(std::span(tokens).subspan(300));
    EXPECT_FALSE(fs::exists(path));  // only the .tmp exists while writing
    EXPECT_TRUE(fs::exists(path + ".tmp"));
    w.close();
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const Shard s(path);
  EXPECT_EQ(s.num_tokens(), 1000u);
  EXPECT_EQ(s.vocab_size(), 257);
  EXPECT_EQ(s.eos_id(), 256);
  EXPECT_EQ(s.dtype_name(), "uint16");
  EXPECT_EQ(s.num_documents(), 2u);
  EXPECT_EQ(s.read_doc_offsets(), (std::vector<std::uint64_t>{0, 300}));
  EXPECT_EQ(read_all(s), tokens);
  for (std::uint64_t off : {0u, 1u, 6u, 7u, 500u, 993u}) {
    std::vector<std::int32_t> part(7);
    s.read(off, part.size(), part.data());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), tokens.begin() + static_cast<std::ptrdiff_t>(off))) << off;
  }
  EXPECT_NO_THROW(s.validate(/*chunk_tokens=*/64));
  expect_error([&] { std::int32_t x; s.read(1000, 1, &x); }, ErrorKind::internal, {path});
}

TEST(IoShard, WriterPicksUint32ForLargeVocabAndHandlesEmpty) {
  TempDir dir;
  ShardWriter w(dir.file("big.h5"), 70000, std::nullopt);
  const std::vector<std::int32_t> tokens{0, 65535, 65536, 69999};
  w.append(tokens);
  w.close();
  const Shard s(dir.file("big.h5"));
  EXPECT_EQ(s.dtype_name(), "uint32");
  EXPECT_FALSE(s.eos_id().has_value());
  EXPECT_EQ(read_all(s), tokens);

  ShardWriter e(dir.file("empty.h5"), 257, 256);
  e.close();
  const Shard es(dir.file("empty.h5"));
  EXPECT_EQ(es.num_tokens(), 0u);
  EXPECT_EQ(es.num_documents(), 0u);
  EXPECT_NO_THROW(es.validate());
}

TEST(IoShard, UnclosedWriterLeavesNoFile) {
  TempDir dir;
  {
    ShardWriter w(dir.file("partial.h5"), 257, 256, 4);
    const std::vector<std::int32_t> t(10, 1);
    w.append(t);
  }
  EXPECT_FALSE(fs::exists(dir.file("partial.h5")));
  EXPECT_FALSE(fs::exists(dir.file("partial.h5.tmp")));
}

TEST(IoShard, WriterRejectsTokensOutsideVocab) {
  TempDir dir;
  ShardWriter w(dir.file("s.h5"), 257, 256);
  const std::vector<std::int32_t> bad{1, 257};
  expect_error([&] { w.append(bad); }, ErrorKind::internal, {dir.file("s.h5"), "257"});
}

TEST(IoShard, OtherLayoutsReadIdentically) {
  TempDir dir;
  const std::vector<std::uint32_t> values = pattern(5000, 257);
  const std::vector<std::int32_t> expected(values.begin(), values.end());
  struct Case {
    const char* name;
    RawShard shard;
    const char* dtype;
  };
  RawShard u32_deflate = raw(H5T_STD_U32LE, {5000}, 256, 6);
  RawShard u16_contiguous_be = raw(H5T_STD_U16BE, {5000});
  RawShard u32_int32_vocab = raw(H5T_STD_U32BE, {5000}, 999);
  u32_int32_vocab.vocab_type = H5T_STD_I32BE;
  u32_int32_vocab.eos_id = 256;
  for (const Case& c : {Case{"u32_deflate", u32_deflate, "uint32"}, Case{"u16_be", u16_contiguous_be, "uint16"},
                        Case{"u32_odd_chunk", u32_int32_vocab, "uint32"}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(std::string(c.name) + ".h5");
    write_raw(path, c.shard, values);
    const Shard s(path);
    EXPECT_EQ(s.num_tokens(), 5000u);
    EXPECT_EQ(s.vocab_size(), 257);
    EXPECT_EQ(s.dtype_name(), c.dtype);
    EXPECT_FALSE(s.has_doc_offsets());
    EXPECT_EQ(read_all(s), expected);
    std::vector<std::int32_t> part(300);
    s.read(1234, part.size(), part.data());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), expected.begin() + 1234));
    EXPECT_NO_THROW(s.validate(100));
  }
  EXPECT_NE(Shard(dir.file("u32_deflate.h5")).storage_description().find("deflate"), std::string::npos);

  // uint8 tokens with a tiny vocabulary.
  const std::vector<std::uint32_t> small = pattern(100, 50);
  RawShard u8 = raw(H5T_STD_U8LE, {100});
  u8.vocab_size = 50;
  write_raw(dir.file("u8.h5"), u8, small);
  const Shard s8(dir.file("u8.h5"));
  EXPECT_EQ(s8.dtype_name(), "uint8");
  EXPECT_EQ(read_all(s8), std::vector<std::int32_t>(small.begin(), small.end()));
}

TEST(IoShard, BadFilesAreDataErrorsNamingTheFile) {
  TempDir dir;
  const std::vector<std::uint32_t> values = pattern(100, 257);

  const std::string missing = dir.file("missing.h5");
  expect_error([&] { Shard s(missing); }, ErrorKind::data, {missing, "not found"});

  const std::string random = dir.file("random.h5");
  {
    std::mt19937 rng(42);
    std::ofstream out(random, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  expect_error([&] { Shard s(random); }, ErrorKind::data, {random, "not an HDF5 file"});

  const std::string good = dir.file("good.h5");
  write_raw(good, raw(H5T_STD_U16LE, {100}), values);
  const std::string truncated = dir.file("truncated.h5");
  {
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(truncated, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_error([&] { Shard s(truncated); }, ErrorKind::data, {truncated});

  RawShard no_tokens;
  no_tokens.tokens = false;
  write_raw(dir.file("no_tokens.h5"), no_tokens, {});
  expect_error([&] { Shard s(dir.file("no_tokens.h5")); }, ErrorKind::data, {dir.file("no_tokens.h5"), "/tokens"});

  write_raw(dir.file("2d.h5"), raw(H5T_STD_U16LE, {10, 10}), values);
  expect_error([&] { Shard s(dir.file("2d.h5")); }, ErrorKind::data, {dir.file("2d.h5"), "(10, 10)", "1-D"});

  write_raw(dir.file("float.h5"), raw(H5T_IEEE_F32LE, {100}), values);
  expect_error([&] { Shard s(dir.file("float.h5")); }, ErrorKind::data, {dir.file("float.h5"), "float32", "unsigned"});

  write_raw(dir.file("signed.h5"), raw(H5T_STD_I32LE, {100}), values);
  expect_error([&] { Shard s(dir.file("signed.h5")); }, ErrorKind::data, {dir.file("signed.h5"), "int32"});

  write_raw(dir.file("u64.h5"), raw(H5T_STD_U64LE, {100}), values);
  expect_error([&] { Shard s(dir.file("u64.h5")); }, ErrorKind::data, {dir.file("u64.h5"), "uint64"});

  RawShard no_vocab = raw(H5T_STD_U16LE, {100});
  no_vocab.vocab_attr = false;
  write_raw(dir.file("no_vocab.h5"), no_vocab, values);
  expect_error([&] { Shard s(dir.file("no_vocab.h5")); }, ErrorKind::data, {dir.file("no_vocab.h5"), "vocab_size"});

  RawShard float_vocab = raw(H5T_STD_U16LE, {100});
  float_vocab.vocab_type = H5T_IEEE_F64LE;
  write_raw(dir.file("float_vocab.h5"), float_vocab, values);
  expect_error([&] { Shard s(dir.file("float_vocab.h5")); }, ErrorKind::data,
               {dir.file("float_vocab.h5"), "vocab_size", "float64"});

  RawShard zero_vocab = raw(H5T_STD_U16LE, {100});
  zero_vocab.vocab_size = 0;
  write_raw(dir.file("zero_vocab.h5"), zero_vocab, values);
  expect_error([&] { Shard s(dir.file("zero_vocab.h5")); }, ErrorKind::data, {dir.file("zero_vocab.h5"), "vocab_size"});

  RawShard bad_eos = raw(H5T_STD_U16LE, {100});
  bad_eos.eos_id = 257;
  write_raw(dir.file("bad_eos.h5"), bad_eos, values);
  expect_error([&] { Shard s(dir.file("bad_eos.h5")); }, ErrorKind::data, {dir.file("bad_eos.h5"), "eos_id", "257"});

  expect_error([&] { Shard s(dir.file("")); }, ErrorKind::data, {"directory"});
}

TEST(IoShard, ValidateFindsTheFirstTokenOutsideTheVocabulary) {
  TempDir dir;
  std::vector<std::uint32_t> values = pattern(1000, 257);
  values[777] = 300;
  values[900] = 4000000000u;  // above 2^31: reported as stored, not clipped
  const std::string path = dir.file("bad_token.h5");
  write_raw(path, raw(H5T_STD_U32LE, {1000}, 64), values);
  const Shard s(path);  // opening reads metadata only: no token scan
  expect_error([&] { s.validate(100); }, ErrorKind::data, {path, "token 300", "offset 777", "vocab_size = 257"});

  std::vector<std::uint32_t> huge = pattern(10, 257);
  huge[3] = 4000000000u;
  write_raw(dir.file("huge.h5"), raw(H5T_STD_U32LE, {10}), huge);
  expect_error([&] { Shard(dir.file("huge.h5")).validate(); }, ErrorKind::data, {"token 4000000000", "offset 3"});

  // Through a dataset the global offset is reported too.
  write_raw(dir.file("a_good.h5"), raw(H5T_STD_U16LE, {100}), pattern(100, 257));
  const TokenDataset ds({dir.file("a_good.h5"), path}, "data.train");
  expect_error([&] { ds.validate_tokens(); }, ErrorKind::data, {path, "offset 777", "offset 877 of the dataset"});
}
