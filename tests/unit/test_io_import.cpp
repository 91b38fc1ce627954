// test_io_import.cpp — `strata-data import` readers: llm.c .bin, Megatron-LM .bin/.idx, raw arrays and
// .npy. Every fixture is written byte by byte with std::ofstream right here, following the writers of
// the real formats (llm.c dev/data/data_common.py, Megatron-LM indexed_dataset.py _IndexWriter,
// numpy/lib/format.py), so each test shows the exact layout it feeds in. Round trips compare the
// shards' tokens and global document offsets with what was written; chunk sizes smaller than a file,
// a sequence and a shard exercise the streaming; every malformed input is an Error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/import_llmc.h"
#include "io/import_megatron.h"
#include "io/import_raw.h"
#include "io/import_source.h"
#include "io/shard.h"
#include "kernels/error.h"
#include "tests/unit/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using strata::test::TempDir;
using strata::test::expect_error;



// ---- little-endian byte writers ----

class Bytes {
 public:
  template <typename T>
  Bytes& put(T v, std::size_t width = sizeof(T)) {
    for (std::size_t i = 0; i < width; ++i)
      data_.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
    return *this;
  }
  Bytes& text(const std::string& s) {
    data_.insert(data_.end(), s.begin(), s.end());
    return *this;
  }
  std::size_t size() const { return data_.size(); }
  void truncate(std::size_t n) { data_.resize(n); }
  void save(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data_.data(), static_cast<std::streamsize>(data_.size()));
    ASSERT_TRUE(f.good()) << path;
  }

 private:
  std::vector<char> data_;
};

// llm.c: 256 int32 header {magic, version, N, 0...}, then N tokens of `width` bytes.
Bytes llmc_file(const std::vector<std::uint32_t>& tokens, std::int32_t magic = 20240520, std::int32_t version = 1,
                std::size_t width = 2) {
  Bytes b;
  b.put<std::int32_t>(magic).put<std::int32_t>(version).put<std::int32_t>(static_cast<std::int32_t>(tokens.size()));
  for (int i = 3; i < 256; ++i) b.put<std::int32_t>(0);
  for (const std::uint32_t t : tokens) b.put(t, width);
  return b;
}

// A Megatron-LM dataset: documents of sequences of tokens. The .bin holds the sequences in reverse
// order when `reverse_bin` (pointers must be followed, not assumed contiguous).
struct Megatron {
  std::vector<std::vector<std::vector<std::int64_t>>> docs;  // document -> sequence -> tokens
  int dtype_code = 4;
  std::size_t width = 4;
  bool reverse_bin = false;
  std::uint64_t version = 1;
  std::vector<std::int64_t> pointer_override;    // replaces the pointers when not empty
  std::vector<std::int64_t> doc_index_override;  // replaces the document indices when not empty
  std::string magic = std::string("MMIDIDX\0\0", 9);
  bool multimodal = false;
  std::size_t idx_truncate = 0;  // bytes cut off the .idx

  void save(const std::string& prefix) const {
    std::vector<std::vector<std::int64_t>> seqs;
    std::vector<std::int64_t> doc_indices{0};
    for (const auto& d : docs) {
      for (const auto& s : d) seqs.push_back(s);
      doc_indices.push_back(static_cast<std::int64_t>(seqs.size()));
    }
    std::vector<std::int64_t> pointers(seqs.size());
    Bytes bin;
    for (std::size_t k = 0; k < seqs.size(); ++k) {
      const std::size_t s = reverse_bin ? seqs.size() - 1 - k : k;
      pointers[s] = static_cast<std::int64_t>(bin.size());
      for (const std::int64_t t : seqs[s]) bin.put(t, width);
    }
    bin.save(prefix + ".bin");
    if (!pointer_override.empty()) pointers = pointer_override;
    if (!doc_index_override.empty()) doc_indices = doc_index_override;
    Bytes idx;
    idx.text(magic).put<std::uint64_t>(version).put<std::uint8_t>(static_cast<std::uint8_t>(dtype_code));
    idx.put<std::uint64_t>(seqs.size()).put<std::uint64_t>(doc_indices.size());
    for (const auto& s : seqs) idx.put<std::int32_t>(static_cast<std::int32_t>(s.size()));
    for (const std::int64_t p : pointers) idx.put<std::int64_t>(p);
    for (const std::int64_t d : doc_indices) idx.put<std::int64_t>(d);
    if (multimodal)
      for (std::size_t s = 0; s < seqs.size(); ++s) idx.put<std::int8_t>(0);
    if (idx_truncate) idx.truncate(idx.size() - idx_truncate);
    idx.save(prefix + ".idx");
  }
};

// .npy: magic, version, header length (uint16 in 1.0, uint32 in 2.0/3.0), the dict padded with spaces
// to a multiple of 64 bytes and ending in '\n', then the data.
Bytes npy_file(const std::string& dict, int major = 1) {
  const std::size_t pre = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((pre + header.size() + 1) % 64) header += ' ';
  header += '\n';
  Bytes b;
  b.put<std::uint8_t>(0x93).text("NUMPY").put<std::uint8_t>(static_cast<std::uint8_t>(major)).put<std::uint8_t>(0);
  if (major == 1)
    b.put<std::uint16_t>(static_cast<std::uint16_t>(header.size()));
  else
    b.put<std::uint32_t>(static_cast<std::uint32_t>(header.size()));
  b.text(header);
  return b;
}

Bytes npy_tokens(const std::string& descr, const std::vector<std::int64_t>& tokens, std::size_t width, int major = 1) {
  Bytes b = npy_file("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" +
                         std::to_string(tokens.size()) + ",), }",
                     major);
  for (const std::int64_t t : tokens) b.put(t, width);
  return b;
}

// The imported set read back: tokens concatenated, document offsets made global.
struct ShardSet {
  std::vector<std::string> files;
  std::vector<std::uint64_t> sizes;
  std::vector<std::int32_t> tokens;
  std::vector<std::uint64_t> doc_offsets;
  std::int64_t vocab_size = 0;
  std::optional<std::int32_t> eos_id;
  std::string dtype;
};

ShardSet read_set(const std::string& dir, const std::string& name = "train") {
  ShardSet set;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.starts_with(name + "_") && f.ends_with(".h5")) set.files.push_back(e.path().string());
  }
  std::sort(set.files.begin(), set.files.end());
  for (const std::string& f : set.files) {
    const Shard s(f);
    const std::uint64_t base = set.tokens.size();
    std::vector<std::int32_t> t(s.num_tokens());
    s.read(0, t.size(), t.data());
    set.tokens.insert(set.tokens.end(), t.begin(), t.end());
    for (const std::uint64_t d : s.read_doc_offsets()) set.doc_offsets.push_back(base + d);
    set.sizes.push_back(s.num_tokens());
    set.vocab_size = s.vocab_size();
    set.eos_id = s.eos_id();
    set.dtype = s.dtype_name();
  }
  return set;
}

ImportOptions options(ImportFormat format, const TempDir& dir, std::vector<std::string> inputs) {
  ImportOptions o;
  o.format = format;
  o.out_dir = dir.file("out");
  o.inputs = std::move(inputs);
  return o;
}

// Every file (hidden ones included) below the output directory.
std::vector<std::string> everything_in(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

std::vector<std::int32_t> as_int32(const std::vector<std::uint32_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

// ---------------------------------------------------------------- llm.c

TEST(ImportLlmc, RoundTripTokensAndDocuments) {
  TempDir dir;
  // A file cut mid-document begins without a delimiter; documents begin exactly at each 50256.
  const std::vector<std::uint32_t> tokens{7, 8, 50256, 1, 2, 3, 50256, 50256, 9, 50255, 50256, 4};
  llmc_file(tokens).save(dir.file("a.bin"));
  const ImportSummary s = import_token_shards(options(ImportFormat::llmc, dir, {dir.file("a.bin")}));
  EXPECT_EQ(s.tokens, tokens.size());
  EXPECT_EQ(s.documents, 4u);
  EXPECT_EQ(s.vocab_size, 50257);  // the defaults of gpt-2 files
  EXPECT_EQ(s.eos_id, 50256);
  const ShardSet set = read_set(dir.file("out"));
  ASSERT_EQ(set.files.size(), 1u);
  EXPECT_EQ(set.tokens, as_int32(tokens));
  EXPECT_EQ(set.doc_offsets, (std::vector<std::uint64_t>{2, 6, 7, 10}));
  EXPECT_EQ(set.vocab_size, 50257);
  EXPECT_EQ(set.eos_id, 50256);
  EXPECT_EQ(set.dtype, "uint16");
}

TEST(ImportLlmc, StreamsManyFilesInSmallChunksAcrossShards) {
  TempDir dir;
  // 3 files of 1000 tokens, read 37 tokens at a time, into shards of 256: documents every 50 tokens.
  std::vector<std::uint32_t> all;
  std::vector<std::uint64_t> starts;
  for (int f = 0; f < 3; ++f) {
    std::vector<std::uint32_t> tokens(1000);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const std::uint64_t g = all.size() + i;
      tokens[i] = g % 50 == 5 ? 50256 : static_cast<std::uint32_t>((g * 7919) % 50256);
      if (tokens[i] == 50256) starts.push_back(g);
    }
    llmc_file(tokens).save(dir.file("part_" + std::to_string(f) + ".bin"));
    all.insert(all.end(), tokens.begin(), tokens.end());
  }
  ImportOptions o = options(ImportFormat::llmc, dir, {dir.file("part_0.bin"), dir.file("part_1.bin"),
                                                      dir.file("part_2.bin")});
  o.chunk_tokens = 37;
  o.shard_tokens = 256;
  const ImportSummary s = import_token_shards(o);
  EXPECT_EQ(s.files, 3u);
  EXPECT_EQ(s.tokens, 3000u);
  EXPECT_EQ(s.documents, starts.size());
  const ShardSet set = read_set(dir.file("out"));
  ASSERT_EQ(set.files.size(), 12u);  // ceil(3000 / 256)
  for (std::size_t i = 0; i + 1 < set.sizes.size(); ++i) EXPECT_EQ(set.sizes[i], 256u);
  EXPECT_EQ(set.sizes.back(), 3000u - 11 * 256);
  EXPECT_EQ(set.tokens, as_int32(all));
  EXPECT_EQ(set.doc_offsets, starts);
  EXPECT_EQ(s.shards, set.files);
}

TEST(ImportLlmc, Llama3FilesAreUint32WithBeginOfText) {
  TempDir dir;
  const std::vector<std::uint32_t> tokens{128000, 70000, 128255, 128000, 5};
  llmc_file(tokens, 20240801, 7, 4).save(dir.file("l.bin"));
  const ImportSummary s = import_token_shards(options(ImportFormat::llmc, dir, {dir.file("l.bin")}));
  EXPECT_EQ(s.vocab_size, 128256);
  EXPECT_FALSE(s.eos_id.has_value());  // 128000 begins documents; it is no end-of-document id
  const ShardSet set = read_set(dir.file("out"));
  EXPECT_EQ(set.tokens, as_int32(tokens));
  EXPECT_EQ(set.doc_offsets, (std::vector<std::uint64_t>{0, 3}));
  EXPECT_EQ(set.dtype, "uint32");
}

TEST(ImportLlmc, BadFiles) {
  TempDir dir;
  const std::string f = dir.file("bad.bin");
  auto run = [&] { import_token_shards(options(ImportFormat::llmc, dir, {f})); };

  llmc_file({1, 2}, 20240521).save(f);
  expect_error(run, ErrorKind::data, {f, "magic", "20240520", "found 20240521"});
  llmc_file({1, 2}, 20240520, 2).save(f);
  expect_error(run, ErrorKind::data, {f, "version 2", "expected 1"});
  llmc_file({1, 2}, 20240801, 1, 4).save(f);
  expect_error(run, ErrorKind::data, {f, "version 1", "expected 7"});

  Bytes truncated = llmc_file({1, 2, 3, 4});
  truncated.truncate(truncated.size() - 3);
  truncated.save(f);
  expect_error(run, ErrorKind::data, {f, "1032 bytes", "found 1029 bytes", "truncated"});
  Bytes trailing = llmc_file({1, 2});
  trailing.put<std::uint16_t>(3);
  trailing.save(f);
  expect_error(run, ErrorKind::data, {f, "1028 bytes", "found 1030", "trailing data"});
  Bytes short_header;
  short_header.put<std::int32_t>(20240520).save(f);
  expect_error(run, ErrorKind::data, {f, "at least 1024 bytes", "found 4 bytes"});
  Bytes().save(f);
  expect_error(run, ErrorKind::data, {f, "found 0 bytes"});

  llmc_file({50256, 1, 50257, 2}).save(f);
  expect_error(run, ErrorKind::data, {f, "token 2 ", "byte offset 1028", "is 50257", "[0, 50257)"});
  ImportOptions small = options(ImportFormat::llmc, dir, {f});
  small.vocab_size = 1000;
  llmc_file({1, 999, 1000}).save(f);
  expect_error([&] { import_token_shards(small); }, ErrorKind::data, {f, "token 2 ", "is 1000", "[0, 1000)"});

  llmc_file({}).save(f);  // a valid header of 0 tokens: nothing to import
  expect_error(run, ErrorKind::data, {"no tokens", f});
  expect_error([&] { import_token_shards(options(ImportFormat::llmc, dir, {dir.file("missing.bin")})); },
               ErrorKind::data, {"missing.bin", "not found"});
  EXPECT_TRUE(everything_in(dir.file("out")).empty());
}

// ---------------------------------------------------------------- Megatron-LM

TEST(ImportMegatron, RoundTripEveryIntegerDtype) {
  const struct {
    int code;
    std::size_t width;
    const char* name;
  } dtypes[] = {{1, 1, "uint8"}, {2, 1, "int8"}, {3, 2, "int16"}, {4, 4, "int32"}, {5, 8, "int64"}, {8, 2, "uint16"}};
  for (const auto& dt : dtypes) {
    SCOPED_TRACE(dt.name);
    TempDir dir;
    Megatron m;
    m.dtype_code = dt.code;
    m.width = dt.width;
    m.reverse_bin = true;
    // Document 1 is empty, document 2 has an empty sequence, the last has two sequences.
    m.docs = {{{1, 2, 3}}, {}, {{}, {4, 5}}, {{6}, {7, 8, 9, 10}}};
    m.save(dir.file("ds_text_document"));
    ImportOptions o = options(ImportFormat::megatron, dir, {dir.file("ds_text_document")});
    o.vocab_size = 11;
    const ImportSummary s = import_token_shards(o);
    EXPECT_NE(s.description.find(dt.name), std::string::npos) << s.description;
    EXPECT_EQ(s.documents, 3u);  // the empty document has no tokens and no offset
    const ShardSet set = read_set(dir.file("out"));
    EXPECT_EQ(set.tokens, (std::vector<std::int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(set.doc_offsets, (std::vector<std::uint64_t>{0, 3, 5}));
    EXPECT_FALSE(set.eos_id.has_value());
  }
}

TEST(ImportMegatron, StreamsLongSequencesAndManyDocuments) {
  TempDir dir;
  Megatron m;
  m.dtype_code = 8;  // uint16, as preprocess_data.py writes for vocabularies < 65500
  m.width = 2;
  m.multimodal = true;  // the trailing mode bytes are read past
  std::vector<std::int32_t> all;
  std::vector<std::uint64_t> starts;
  for (int d = 0; d < 40; ++d) {
    std::vector<std::int64_t> seq(static_cast<std::size_t>(d * 13 % 97 + 1));
    starts.push_back(all.size());
    for (auto& t : seq) {
      t = static_cast<std::int64_t>((all.size() * 31 + 7) % 60000);
      all.push_back(static_cast<std::int32_t>(t));
    }
    m.docs.push_back({seq});
  }
  m.save(dir.file("big"));
  ImportOptions o = options(ImportFormat::megatron, dir, {dir.file("big.idx")});  // PREFIX.idx works too
  o.vocab_size = 60000;
  o.eos_id = 0;
  o.chunk_tokens = 10;  // shorter than most sequences
  o.shard_tokens = 500;
  const ImportSummary s = import_token_shards(o);
  EXPECT_EQ(s.tokens, all.size());
  EXPECT_EQ(s.documents, 40u);
  const ShardSet set = read_set(dir.file("out"));
  EXPECT_EQ(set.tokens, all);
  EXPECT_EQ(set.doc_offsets, starts);
  EXPECT_EQ(set.files.size(), (all.size() + 499) / 500);
  EXPECT_EQ(set.eos_id, 0);
}

TEST(ImportMegatron, BadDatasets) {
  TempDir dir;
  const std::string prefix = dir.file("ds");
  auto run = [&] {
    ImportOptions o = options(ImportFormat::megatron, dir, {prefix});
    o.vocab_size = 100;
    import_token_shards(o);
  };
  auto base = [] {
    Megatron m;
    m.docs = {{{1, 2}}, {{3}, {4, 5}}};
    return m;
  };
  const std::string idx = prefix + ".idx", bin = prefix + ".bin";

  Megatron m = base();
  m.magic = std::string("MMIDIDY\0\0", 9);
  m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "MMIDIDX"});
  m = base(), m.version = 2, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "version 2", "expected 1"});
  m = base(), m.dtype_code = 7, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "float32", "integer"});
  m = base(), m.dtype_code = 9, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "dtype code 9"});
  m = base(), m.idx_truncate = 5, m.save(prefix);  // 34 + 12*3 + 8*3 = 94 bytes expected
  expect_error(run, ErrorKind::data, {idx, "94 bytes", "found 89", "truncated"});

  m = base(), m.pointer_override = {0, 8, 16}, m.save(prefix);  // .bin has 5 int32 = 20 bytes
  expect_error(run, ErrorKind::data, {idx, "sequence 2", "pointer 16", "outside", bin, "20 bytes"});
  m = base(), m.pointer_override = {0, -4, 12}, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "sequence 1", "pointer -4"});
  m = base(), m.doc_index_override = {1, 1, 3}, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "document index 0 is 1", "expected 0"});
  m = base(), m.doc_index_override = {0, 2, 1, 3}, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "document index 2 is 1", "non-decreasing"});
  m = base(), m.doc_index_override = {0, 1, 2}, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "last document index", "is 2", "number of sequences, 3"});
  m = base(), m.doc_index_override = {0, 1, 4}, m.save(prefix);
  expect_error(run, ErrorKind::data, {idx, "document index 2 is 4"});

  m = base(), m.docs = {{{1, -2}}}, m.save(prefix);
  expect_error(run, ErrorKind::data, {bin, "token 1 ", "byte offset 4", "is -2"});
  m = base(), m.docs = {{{1, 2}}, {{100}}}, m.save(prefix);
  expect_error(run, ErrorKind::data, {bin, "token 2 ", "byte offset 8", "is 100", "[0, 100)"});

  m = base(), m.docs = {}, m.save(prefix);  // a valid, empty dataset
  expect_error(run, ErrorKind::data, {"no tokens"});
  m = base(), m.save(prefix);
  fs::remove(bin);
  expect_error(run, ErrorKind::data, {bin, "not found"});
  EXPECT_TRUE(everything_in(dir.file("out")).empty());
}

// ---------------------------------------------------------------- raw and .npy

TEST(ImportRaw, Uint16AndUint32WithEosDocuments) {
  for (const TokenType type : {TokenType::u16, TokenType::u32}) {
    SCOPED_TRACE(token_type_name(type));
    TempDir dir;
    const std::size_t width = token_type_bytes(type);
    const std::vector<std::uint32_t> a{5, 6, 0, 7, 0}, b{8, 0, 9};
    Bytes fa, fb;
    for (const auto t : a) fa.put(t, width);
    for (const auto t : b) fb.put(t, width);
    fa.save(dir.file("a.raw"));
    fb.save(dir.file("b.raw"));
    ImportOptions o = options(ImportFormat::raw, dir, {dir.file("a.raw"), dir.file("b.raw")});
    o.raw_dtype = type;
    o.vocab_size = 10;
    o.eos_id = 0;
    o.chunk_tokens = 2;
    import_token_shards(o);
    const ShardSet set = read_set(dir.file("out"));
    EXPECT_EQ(set.tokens, (std::vector<std::int32_t>{5, 6, 0, 7, 0, 8, 0, 9}));
    // Each file begins a document, and so does the token after each eos (not after a file's last token).
    EXPECT_EQ(set.doc_offsets, (std::vector<std::uint64_t>{0, 3, 5, 7}));
    EXPECT_EQ(set.eos_id, 0);

    // Without an eos id each file is one document.
    o.eos_id.reset();
    o.overwrite = true;
    import_token_shards(o);
    EXPECT_EQ(read_set(dir.file("out")).doc_offsets, (std::vector<std::uint64_t>{0, 5}));
  }
}

TEST(ImportRaw, BadFiles) {
  TempDir dir;
  const std::string f = dir.file("t.raw");
  ImportOptions o = options(ImportFormat::raw, dir, {f});
  o.raw_dtype = TokenType::u32;
  o.vocab_size = 100;
  Bytes().put<std::uint32_t>(1).put<std::uint16_t>(2).save(f);
  expect_error([&] { import_token_shards(o); }, ErrorKind::data, {f, "6 bytes", "multiple of 4"});
  Bytes().put<std::uint32_t>(1).put<std::uint32_t>(4000000000u).save(f);
  expect_error([&] { import_token_shards(o); }, ErrorKind::data, {f, "token 1 ", "byte offset 4", "4000000000"});
  Bytes().save(f);
  expect_error([&] { import_token_shards(o); }, ErrorKind::data, {"no tokens", f});

  ImportOptions no_dtype = o;
  no_dtype.raw_dtype.reset();
  expect_error([&] { import_token_shards(no_dtype); }, ErrorKind::config, {"--dtype is required"});
  ImportOptions no_vocab = o;
  no_vocab.vocab_size.reset();
  expect_error([&] { import_token_shards(no_vocab); }, ErrorKind::config, {"--vocab-size is required", "raw"});
  expect_error([] { parse_raw_dtype("uint8"); }, ErrorKind::config, {"uint8", "uint16 or uint32"});
  EXPECT_TRUE(everything_in(dir.file("out")).empty());
}

TEST(ImportNpy, RoundTripVersionsAndDtypes) {
  const struct {
    const char* descr;
    std::size_t width;
    int major;
  } cases[] = {{"<u2", 2, 1}, {"<u4", 4, 2}, {"<i4", 4, 3}, {"<i8", 8, 1}, {"|u1", 1, 1}, {"<i2", 2, 1}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.descr);
    TempDir dir;
    const std::vector<std::int64_t> tokens{3, 1, 4, 1, 5, 9, 2, 6, 0, 5, 3, 5};
    npy_tokens(c.descr, tokens, c.width, c.major).save(dir.file("t.npy"));
    ImportOptions o = options(ImportFormat::npy, dir, {dir.file("t.npy")});
    o.vocab_size = 10;
    o.eos_id = 0;
    o.chunk_tokens = 5;
    o.shard_tokens = 4;
    const ImportSummary s = import_token_shards(o);
    EXPECT_NE(s.description.find(c.descr), std::string::npos) << s.description;
    const ShardSet set = read_set(dir.file("out"));
    EXPECT_EQ(set.tokens, std::vector<std::int32_t>(tokens.begin(), tokens.end()));
    EXPECT_EQ(set.doc_offsets, (std::vector<std::uint64_t>{0, 9}));
    EXPECT_EQ(set.sizes, (std::vector<std::uint64_t>{4, 4, 4}));
  }
}

TEST(ImportNpy, HeaderParsing) {
  const std::string f = "x.npy";
  NpyHeader h = parse_npy_header_text("{'descr': '<u4', 'fortran_order': False, 'shape': (123,), }", f);
  EXPECT_EQ(h.type, TokenType::u32);
  EXPECT_EQ(h.num_tokens, 123u);
  h = parse_npy_header_text("{\"shape\":(7L,),\"fortran_order\":False,\"descr\":\"|i1\"}   \n", f);
  EXPECT_EQ(h.type, TokenType::i8);
  EXPECT_EQ(h.num_tokens, 7u);
  expect_error([&] { parse_npy_header_text("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f); },
               ErrorKind::data, {f, "unsupported .npy dtype '<f4'"});
  expect_error([&] { parse_npy_header_text("{'descr': '>u2', 'fortran_order': False, 'shape': (3,), }", f); },
               ErrorKind::data, {"'>u2'", "big-endian"});
  expect_error([&] { parse_npy_header_text("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4), }", f); },
               ErrorKind::data, {"shape (3, 4)", "1-D"});
  expect_error([&] { parse_npy_header_text("{'descr': '<u2', 'fortran_order': False, 'shape': (), }", f); },
               ErrorKind::data, {"shape ()", "1-D"});
  expect_error([&] { parse_npy_header_text("{'descr': '<u2', 'fortran_order': True, 'shape': (3,), }", f); },
               ErrorKind::data, {"fortran_order True"});
  expect_error([&] { parse_npy_header_text("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (3,)}", f); },
               ErrorKind::data, {"malformed .npy header"});
  expect_error([&] { parse_npy_header_text("{'descr': '<u2', 'shape': (3,)}", f); }, ErrorKind::data,
               {"no 'fortran_order'"});
}

TEST(ImportNpy, BadFiles) {
  TempDir dir;
  const std::string f = dir.file("t.npy");
  ImportOptions o = options(ImportFormat::npy, dir, {f});
  o.vocab_size = 100;
  auto run = [&] { import_token_shards(o); };

  Bytes two_d = npy_file("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }");
  two_d.put<std::uint64_t>(0).save(f);
  expect_error(run, ErrorKind::data, {f, "shape (2, 2)", "1-D"});
  npy_tokens("<f8", {1, 2}, 8).save(f);
  expect_error(run, ErrorKind::data, {f, "'<f8'"});
  Bytes truncated = npy_tokens("<u2", {1, 2, 3}, 2);
  truncated.truncate(truncated.size() - 1);
  truncated.save(f);
  expect_error(run, ErrorKind::data, {f, "128 + 3 * 2", "133 bytes", "truncated"});
  Bytes().text("NUMPY!").save(f);
  expect_error(run, ErrorKind::data, {f, "not a .npy file"});
  Bytes v4;
  v4.put<std::uint8_t>(0x93).text("NUMPY").put<std::uint8_t>(4).put<std::uint8_t>(0).put<std::uint16_t>(0).save(f);
  expect_error(run, ErrorKind::data, {f, "version 4.0"});
  npy_tokens("<i4", {1, -1}, 4).save(f);
  expect_error(run, ErrorKind::data, {f, "token 1 ", "byte offset 132", "is -1"});
  npy_tokens("<u2", {}, 2).save(f);
  expect_error(run, ErrorKind::data, {"no tokens"});
  EXPECT_TRUE(everything_in(dir.file("out")).empty());
}

// ---------------------------------------------------------------- the driver

TEST(ImportDriver, FailureMidImportLeavesNoShardSet) {
  TempDir dir;
  // Headers are fine; the bad token is in the second file, after shards of the first were complete.
  std::vector<std::uint32_t> good(1000, 1), bad(1000, 1);
  bad[900] = 60000;
  llmc_file(good).save(dir.file("a.bin"));
  llmc_file(bad).save(dir.file("b.bin"));
  ImportOptions o = options(ImportFormat::llmc, dir, {dir.file("a.bin"), dir.file("b.bin")});
  o.shard_tokens = 100;
  o.chunk_tokens = 64;
  expect_error([&] { import_token_shards(o); }, ErrorKind::data, {dir.file("b.bin"), "token 900 ", "is 60000"});
  EXPECT_TRUE(everything_in(dir.file("out")).empty());  // no shard, no .tmp, no staging directory

  // An older set survives a failed --overwrite import untouched.
  ImportOptions ok = options(ImportFormat::llmc, dir, {dir.file("a.bin")});
  ok.shard_tokens = 400;
  import_token_shards(ok);
  const auto before = everything_in(dir.file("out"));
  ASSERT_EQ(before.size(), 3u);
  o.overwrite = true;
  EXPECT_THROW(import_token_shards(o), Error);
  EXPECT_EQ(everything_in(dir.file("out")), before);
}

TEST(ImportDriver, ExistingShardsNeedOverwrite) {
  TempDir dir;
  llmc_file(std::vector<std::uint32_t>(10, 3)).save(dir.file("a.bin"));
  ImportOptions o = options(ImportFormat::llmc, dir, {dir.file("a.bin")});
  o.shard_tokens = 3;
  import_token_shards(o);
  EXPECT_EQ(read_set(dir.file("out")).files.size(), 4u);
  expect_error([&] { import_token_shards(o); }, ErrorKind::config, {"already holds train_", "--overwrite"});

  // A different --name is another set in the same directory.
  ImportOptions other = o;
  other.name = "valid";
  import_token_shards(other);
  EXPECT_EQ(read_set(dir.file("out"), "valid").files.size(), 4u);

  // --overwrite replaces the whole set, also when the new one has fewer shards.
  o.overwrite = true;
  o.shard_tokens = 6;
  import_token_shards(o);
  const ShardSet set = read_set(dir.file("out"));
  EXPECT_EQ(set.sizes, (std::vector<std::uint64_t>{6, 4}));
  EXPECT_EQ(set.tokens, std::vector<std::int32_t>(10, 3));
  EXPECT_EQ(read_set(dir.file("out"), "valid").files.size(), 4u);
}

TEST(ImportDriver, OptionErrors) {
  TempDir dir;
  llmc_file({1, 2}).save(dir.file("a.bin"));
  const ImportOptions base = options(ImportFormat::llmc, dir, {dir.file("a.bin")});
  auto with = [&](auto change) {
    ImportOptions o = base;
    change(o);
    return [o] { import_token_shards(o); };
  };
  expect_error(with([](ImportOptions& o) { o.raw_dtype = TokenType::u16; }), ErrorKind::config, {"--dtype", "raw only"});
  expect_error(with([](ImportOptions& o) { o.eos_id = 50257; }), ErrorKind::config, {"--eos-id is 50257"});
  expect_error(with([](ImportOptions& o) { o.vocab_size = 0; }), ErrorKind::config, {"--vocab-size is 0"});
  expect_error(with([](ImportOptions& o) { o.vocab_size = std::int64_t{1} << 31; }), ErrorKind::config,
               {"--vocab-size"});
  expect_error(with([](ImportOptions& o) { o.inputs.clear(); }), ErrorKind::config, {"missing inputs"});
  expect_error(with([](ImportOptions& o) { o.name = "a/b"; }), ErrorKind::config, {"--name"});
  expect_error(with([](ImportOptions& o) { o.format = ImportFormat::npy; }), ErrorKind::config,
               {"--vocab-size is required", "npy"});
  expect_error([] { parse_import_format("hf"); }, ErrorKind::config, {"unknown import format 'hf'"});
  EXPECT_FALSE(fs::exists(dir.file("out")));
}
