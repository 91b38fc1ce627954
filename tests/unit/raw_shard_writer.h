// raw_shard_writer.h — test helper: writes a file of the shard shape (or a malformed one) directly
// with the HDF5 C API, in any physical layout, independently of io/shard.h's ShardWriter: stored type,
// rank, contiguous or chunked, deflate, the type of the vocab_size attribute, or no attribute at all.
// Also damages the data of one stored chunk in place. Header-only: used by unit tests and by the
// strata_test_make_shards helper of the end-to-end tests. Failures throw std::runtime_error.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::testing {

struct RawShardLayout {
  hid_t file_type = H5T_STD_U32LE;  // stored type of the token dataset
  hsize_t chunk = 0;                // chunk length in tokens (first dimension); 0 = contiguous
  int deflate = -1;                 // deflate level 0-9; -1 = no compression
  int rank = 1;                     // 2: stored as (n / 2, 2)
  std::string dataset = "tokens";   // another name: a file without /tokens
  std::optional<std::int64_t> vocab_size = 257;  // root attribute; nullopt = none
  hid_t vocab_type = H5T_STD_I32LE;              // stored type of the attribute
};

namespace detail {
inline hid_t h5_check(hid_t id, const char* what, const std::string& path) {
  if (id < 0) throw std::runtime_error("raw shard " + path + ": " + what + " failed");
  return id;
}
}  // namespace detail

// Writes `tokens` (converted by HDF5 to layout.file_type) to `path`, replacing any file.
inline void write_raw_shard(const std::string& path, const std::vector<std::int64_t>& tokens,
                            const RawShardLayout& layout = {}) {
  using detail::h5_check;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = h5_check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate", path);
  const hsize_t n = tokens.size();
  hsize_t dims[2] = {n, 1}, maxdims[2] = {H5S_UNLIMITED, 1}, chunk[2] = {layout.chunk, 1};
  if (layout.rank == 2) {
    dims[0] = n / 2;
    dims[1] = maxdims[1] = chunk[1] = 2;
  }
  const hid_t space = h5_check(H5Screate_simple(layout.rank, dims, layout.chunk > 0 ? maxdims : nullptr),
                               "H5Screate_simple", path);
  const hid_t dcpl = h5_check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path);
  if (layout.chunk > 0) h5_check(H5Pset_chunk(dcpl, layout.rank, chunk), "H5Pset_chunk", path);
  if (layout.deflate >= 0) h5_check(H5Pset_deflate(dcpl, static_cast<unsigned>(layout.deflate)), "H5Pset_deflate", path);
  const hid_t dset = h5_check(H5Dcreate2(file, layout.dataset.c_str(), layout.file_type, space, H5P_DEFAULT, dcpl,
                                         H5P_DEFAULT), "H5Dcreate2", path);
  if (n > 0) h5_check(H5Dwrite(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, tokens.data()), "H5Dwrite", path);
  if (layout.vocab_size) {
    const hid_t aspace = h5_check(H5Screate(H5S_SCALAR), "H5Screate", path);
    const hid_t attr = h5_check(H5Acreate2(file, "vocab_size", layout.vocab_type, aspace, H5P_DEFAULT, H5P_DEFAULT),
                                "H5Acreate2", path);
    h5_check(H5Awrite(attr, H5T_NATIVE_INT64, &*layout.vocab_size), "H5Awrite", path);
    H5Aclose(attr);
    H5Sclose(aspace);
  }
  H5Dclose(dset);
  H5Pclose(dcpl);
  H5Sclose(space);
  h5_check(H5Fclose(file), "H5Fclose", path);
}

// Overwrites the stored bytes of chunk `index` of /tokens with 0xA5 (a chunked shard): with deflate the
// chunk no longer decompresses; uncompressed it holds tokens 0xA5A5A5A5 (outside any vocabulary).
inline void corrupt_chunk(const std::string& path, hsize_t index, const std::string& dataset = "tokens") {
  using detail::h5_check;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen", path);
  const hid_t dset = h5_check(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), "H5Dopen2", path);
  hsize_t offset[2];
  unsigned filter_mask = 0;
  haddr_t addr = 0;
  hsize_t size = 0;
  const hid_t space = h5_check(H5Dget_space(dset), "H5Dget_space", path);
  h5_check(H5Dget_chunk_info(dset, space, index, offset, &filter_mask, &addr, &size), "H5Dget_chunk_info", path);
  H5Sclose(space);
  H5Dclose(dset);
  H5Fclose(file);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(addr));
  const std::string garbage(static_cast<std::size_t>(size), static_cast<char>(0xA5));
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  if (!f) throw std::runtime_error("raw shard " + path + ": cannot overwrite chunk " + std::to_string(index));
}

}  // namespace strata::testing
