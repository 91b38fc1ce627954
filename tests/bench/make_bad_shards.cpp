// make_bad_shards.cpp — strata_test_make_shards DIR: writes the good and malformed shards that
// tests/e2e/data_bad_input.sh feeds to strata-train, with the HDF5 C API (no h5py needed). Every file
// holds byte-tokenizer tokens (vocab_size 257) unless its name says otherwise:
//   good.h5          4000 tokens, valid                 good2.h5        2000 tokens, valid
//   truncated.h5     good.h5 cut to its first half      corrupt_meta.h5 good.h5, bytes 16-95 overwritten
//                                                                       (superblock and root group header)
//   no_tokens.h5     the tokens stored as /ids          tokens_2d.h5    /tokens of shape (2000, 2)
//   tokens_float.h5  /tokens as float32                 vocab_300.h5    vocab_size 300 (disagrees with good)
//   vocab_1000.h5    vocab_size 1000 (> model 257)      no_vocab.h5     no vocab_size attribute
//   empty.h5         0 tokens                           short.h5        10 tokens (shorter than a sample)
//   corrupt_chunk.h5 deflate, every chunk damaged       bad_tokens.h5   uint32, every 8th token 5000
//   empty_dir/       a directory without shards
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/raw_shard_writer.h"

namespace fs = std::filesystem;
using strata::testing::RawShardLayout;
using strata::testing::write_raw_shard;

namespace {

std::vector<std::int64_t> text_tokens(std::size_t n) {
  const std::string text = "the cat sat on the mat and the dog sat on the log. ";
  std::vector<std::int64_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = i % 200 == 199 ? 256 : static_cast<unsigned char>(text[i % text.size()]);
  return t;
}

void overwrite(const std::string& path, std::streamoff at, std::size_t n, char byte) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(at);
  const std::string bytes(n, byte);
  f.write(bytes.data(), static_cast<std::streamsize>(n));
  if (!f) throw std::runtime_error("cannot overwrite bytes of " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: strata_test_make_shards DIR\n");
    return 2;
  }
  try {
    const fs::path dir = argv[1];
    fs::create_directories(dir / "empty_dir");
    const auto file = [&](const char* name) { return (dir / name).string(); };
    RawShardLayout plain;
    plain.file_type = H5T_STD_U16LE;
    plain.chunk = 1024;
    plain.vocab_type = H5T_STD_I64LE;
    const auto good = text_tokens(4000);
    write_raw_shard(file("good.h5"), good, plain);
    write_raw_shard(file("good2.h5"), text_tokens(2000), plain);

    write_raw_shard(file("truncated.h5"), good, plain);
    fs::resize_file(file("truncated.h5"), fs::file_size(file("truncated.h5")) / 2);
    write_raw_shard(file("corrupt_meta.h5"), good, plain);
    overwrite(file("corrupt_meta.h5"), 16, 80, '\x5a');

    RawShardLayout l = plain;
    l.dataset = "ids";
    write_raw_shard(file("no_tokens.h5"), good, l);
    l = plain;
    l.rank = 2;
    write_raw_shard(file("tokens_2d.h5"), good, l);
    l = plain;
    l.file_type = H5T_IEEE_F32LE;
    write_raw_shard(file("tokens_float.h5"), good, l);
    l = plain;
    l.vocab_size = 300;
    write_raw_shard(file("vocab_300.h5"), good, l);
    l.vocab_size = 1000;
    write_raw_shard(file("vocab_1000.h5"), good, l);
    l.vocab_size.reset();
    write_raw_shard(file("no_vocab.h5"), good, l);
    write_raw_shard(file("empty.h5"), {}, plain);
    write_raw_shard(file("short.h5"), text_tokens(10), plain);

    l = plain;
    l.chunk = 500;
    l.deflate = 6;
    write_raw_shard(file("corrupt_chunk.h5"), good, l);
    for (hsize_t c = 0; c < 8; ++c) strata::testing::corrupt_chunk(file("corrupt_chunk.h5"), c);
    l = plain;
    l.file_type = H5T_STD_U32LE;
    auto bad = good;
    for (std::size_t i = 0; i < bad.size(); i += 8) bad[i] = 5000;
    write_raw_shard(file("bad_tokens.h5"), bad, l);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata_test_make_shards: %s\n", e.what());
    return 1;
  }
  return 0;
}
