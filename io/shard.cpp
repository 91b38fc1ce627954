// shard.cpp — reading and writing HDF5 token shards (see shard.h for the format).
#include "io/shard.h"

#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

#include "io/hdf5_id.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace strata {

namespace {

std::string type_description(hid_t type) {
  const std::size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ARRAY: return "array";
    default: return "HDF5 type class " + std::to_string(static_cast<int>(H5Tget_class(type)));
  }
}

std::string dims_description(hid_t space) {
  const int nd = H5Sget_simple_extent_ndims(space);
  if (nd <= 0) return nd == 0 ? "scalar" : "unknown shape";
  std::vector<hsize_t> dims(static_cast<std::size_t>(nd));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

// Reads an optional integer root attribute; Error (data) when present but not a single integer.
std::optional<std::int64_t> read_int_attribute(hid_t file, const char* name, const std::string& path) {
  const htri_t exists = H5Aexists_by_name(file, "/", name, H5P_DEFAULT);
  STRATA_CHECK(exists >= 0, data, path, ": cannot look up root attribute ", name, hdf5_detail_suffix());
  if (exists == 0) return std::nullopt;
  H5Id attr(H5Aopen_by_name(file, "/", name, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  STRATA_CHECK(attr.valid(), data, path, ": cannot open root attribute ", name, hdf5_detail_suffix());
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  STRATA_CHECK(type.valid() && space.valid(), data, path, ": cannot read root attribute ", name, hdf5_detail_suffix());
  STRATA_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, data, path, ": root attribute ", name, " has type ",
               type_description(type.get()), "; expected an integer");
  STRATA_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, data, path, ": root attribute ", name,
               " has shape ", dims_description(space.get()), "; expected a single integer");
  std::int64_t value = 0;
  STRATA_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value) >= 0, data, path, ": cannot read root attribute ",
               name, hdf5_detail_suffix());
  return value;
}

// Opens dataset `name` if it exists (nullopt when absent); Error (data) if it exists but is not 1-D.
std::optional<H5Id> open_1d_dataset(hid_t file, const char* name, const std::string& path, bool required) {
  const htri_t exists = H5Lexists(file, name, H5P_DEFAULT);
  STRATA_CHECK(exists >= 0, data, path, ": cannot look up /", name, hdf5_detail_suffix());
  if (exists == 0) {
    STRATA_CHECK(!required, data, path, ": no /", name,
                 " dataset; expected a 1-D unsigned integer dataset /tokens (a Strata token shard, SPEC section 7)");
    return std::nullopt;
  }
  H5Id dset(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  STRATA_CHECK(dset.valid(), data, path, ": /", name, " is not a readable dataset", hdf5_detail_suffix());
  H5Id space(H5Dget_space(dset.get()), H5Sclose);
  STRATA_CHECK(space.valid(), data, path, ": cannot read the shape of /", name, hdf5_detail_suffix());
  const int nd = H5Sget_simple_extent_ndims(space.get());
  STRATA_CHECK(nd == 1, data, path, ": /", name, " has shape ", dims_description(space.get()),
               "; expected a 1-D dataset");
  return std::optional<H5Id>(std::in_place, dset.release(), H5Dclose);
}

std::uint64_t dataset_length(hid_t dset) {
  H5Id space(H5Dget_space(dset), H5Sclose);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  return n;
}

// Hyperslab read of [offset, offset + count) of a 1-D dataset into `dst` of memory type `mem_type`.
bool read_range(hid_t dset, std::uint64_t offset, std::size_t count, hid_t mem_type, void* dst) {
  if (count == 0) return true;
  H5Id file_space(H5Dget_space(dset), H5Sclose);
  const hsize_t start = offset, n = count;
  H5Id mem_space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (!file_space.valid() || !mem_space.valid()) return false;
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) < 0) return false;
  return H5Dread(dset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, dst) >= 0;
}

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (err->desc && *err->desc) *out = err->desc;  // walking downward: the last one is the innermost
  return 0;
}

}  // namespace

void hdf5_silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::string hdf5_error_detail() {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &detail);
  H5Eclear2(H5E_DEFAULT);
  return detail;
}

std::vector<std::string> expand_shard_paths(const std::vector<std::string>& inputs, const std::string& what) {
  std::vector<std::string> out;
  for (const std::string& input : inputs) {
    std::error_code ec;
    std::vector<std::string> found;
    if (fs::is_regular_file(input, ec)) {
      found.push_back(input);
    } else if (fs::is_directory(input, ec)) {
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (entry.path().extension() == ".h5" && fs::is_regular_file(entry.path(), ec))
          found.push_back(entry.path().string());
      STRATA_CHECK(!found.empty(), data, what, ": directory '", input, "' contains no *.h5 shard files");
    } else {
      glob_t g{};
      const int rc = glob(input.c_str(), GLOB_NOSORT, nullptr, &g);
      for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
        if (fs::is_regular_file(g.gl_pathv[i], ec)) found.push_back(g.gl_pathv[i]);
      globfree(&g);
      STRATA_CHECK(!found.empty(), data, what, ": shard file '", input,
                   "' not found (expected an existing file, a directory of *.h5 files or a glob that matches files)");
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  STRATA_CHECK(!out.empty(), data, what, ": no shard files given");
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Shard

Shard::Shard(std::string path) : path_(std::move(path)) {
  hdf5_silence_errors();
  std::error_code ec;
  const auto status = fs::status(path_, ec);
  STRATA_CHECK(fs::exists(status), data, path_, ": shard file not found");
  STRATA_CHECK(!fs::is_directory(status), data, path_, ": is a directory; expected an HDF5 shard file");
  const htri_t is_hdf5 = H5Fis_hdf5(path_.c_str());
  STRATA_CHECK(is_hdf5 >= 0, data, path_, ": cannot read the file", hdf5_detail_suffix());
  STRATA_CHECK(is_hdf5 > 0, data, path_, ": not an HDF5 file (no HDF5 signature found)");

  H5Id fapl = hdf5_file_access();
  H5Id file(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  STRATA_CHECK(file.valid(), data, path_, ": cannot open HDF5 file (truncated or corrupt?)", hdf5_detail_suffix());

  H5Id tokens = std::move(*open_1d_dataset(file.get(), "tokens", path_, /*required=*/true));
  H5Id type(H5Dget_type(tokens.get()), H5Tclose);
  STRATA_CHECK(type.valid(), data, path_, ": cannot read the type of /tokens", hdf5_detail_suffix());
  const std::size_t bytes = H5Tget_size(type.get());
  const bool ok = H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE &&
                  (bytes == 1 || bytes == 2 || bytes == 4);
  STRATA_CHECK(ok, data, path_, ": /tokens has type ", type_description(type.get()),
               "; expected an unsigned integer of 1, 2 or 4 bytes (uint8, uint16, uint32)");
  token_bytes_ = static_cast<int>(bytes);
  num_tokens_ = dataset_length(tokens.get());

  const auto vocab = read_int_attribute(file.get(), "vocab_size", path_);
  STRATA_CHECK(vocab.has_value(), data, path_, ": no root attribute vocab_size; expected a positive integer");
  STRATA_CHECK(*vocab > 0 && *vocab <= std::numeric_limits<std::int32_t>::max(), data, path_,
               ": root attribute vocab_size is ", *vocab, "; expected an integer in [1, 2147483647]");
  vocab_size_ = *vocab;
  if (const auto eos = read_int_attribute(file.get(), "eos_id", path_)) {
    STRATA_CHECK(*eos >= 0 && *eos < vocab_size_, data, path_, ": root attribute eos_id is ", *eos,
                 "; expected an integer in [0, vocab_size = ", vocab_size_, ")");
    eos_id_ = static_cast<std::int32_t>(*eos);
  }
  if (auto offsets = open_1d_dataset(file.get(), "doc_offsets", path_, /*required=*/false)) {
    H5Id otype(H5Dget_type(offsets->get()), H5Tclose);
    STRATA_CHECK(H5Tget_class(otype.get()) == H5T_INTEGER, data, path_, ": /doc_offsets has type ",
                 type_description(otype.get()), "; expected integers (uint64)");
    num_doc_offsets_ = dataset_length(offsets->get());
  }
  file_ = file.release();
  tokens_ = tokens.release();
}

Shard::~Shard() { close(); }

Shard::Shard(Shard&& other) noexcept { *this = std::move(other); }

Shard& Shard::operator=(Shard&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    file_ = std::exchange(other.file_, H5I_INVALID_HID);
    tokens_ = std::exchange(other.tokens_, H5I_INVALID_HID);
    num_tokens_ = other.num_tokens_;
    vocab_size_ = other.vocab_size_;
    eos_id_ = other.eos_id_;
    token_bytes_ = other.token_bytes_;
    num_doc_offsets_ = other.num_doc_offsets_;
  }
  return *this;
}

void Shard::close() noexcept {
  if (tokens_ >= 0) H5Dclose(tokens_);
  if (file_ >= 0) H5Fclose(file_);
  tokens_ = file_ = H5I_INVALID_HID;
}

std::string Shard::dtype_name() const { return "uint" + std::to_string(token_bytes_ * 8); }

std::string Shard::storage_description() const {
  H5Id dcpl(H5Dget_create_plist(tokens_), H5Pclose);
  if (!dcpl.valid()) return "unknown";
  std::string s;
  switch (H5Pget_layout(dcpl.get())) {
    case H5D_CONTIGUOUS: s = "contiguous"; break;
    case H5D_COMPACT: s = "compact"; break;
    case H5D_CHUNKED: {
      hsize_t chunk = 0;
      H5Pget_chunk(dcpl.get(), 1, &chunk);
      s = "chunked (" + std::to_string(chunk) + " tokens)";
      break;
    }
    default: s = "other layout";
  }
  const int nfilters = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t nvalues = 0;
    char name[64] = {0};
    H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nvalues, nullptr, sizeof(name), name, &config);
    s += std::string(", ") + name;
  }
  return s;
}

void Shard::read(std::uint64_t offset, std::size_t count, std::int32_t* dst) const {
  STRATA_CHECK(offset <= num_tokens_ && count <= num_tokens_ - offset, internal, path_, ": read of tokens [",
               offset, ", ", offset + count, ") outside the shard's ", num_tokens_, " tokens");
  STRATA_CHECK(read_range(tokens_, offset, count, H5T_NATIVE_INT32, dst), data, path_,
               ": cannot read tokens [", offset, ", ", offset + count, ") of /tokens", hdf5_detail_suffix());
}

std::vector<std::uint64_t> Shard::read_doc_offsets() const {
  std::vector<std::uint64_t> offsets;
  if (!num_doc_offsets_) return offsets;
  H5Id dset(H5Dopen2(file_, "doc_offsets", H5P_DEFAULT), H5Dclose);
  offsets.resize(*num_doc_offsets_);
  STRATA_CHECK(dset.valid() && read_range(dset.get(), 0, offsets.size(), H5T_NATIVE_UINT64, offsets.data()),
               data, path_, ": cannot read /doc_offsets", hdf5_detail_suffix());
  return offsets;
}

void Shard::validate(std::size_t chunk_tokens, std::uint64_t global_base) const {
  // Read as uint32, not int32: a stored uint32 above 2^31-1 must be reported as itself, not clipped.
  std::vector<std::uint32_t> buf(std::min<std::uint64_t>(std::max<std::size_t>(chunk_tokens, 1), num_tokens_));
  const auto vocab = static_cast<std::uint32_t>(vocab_size_);
  for (std::uint64_t pos = 0; pos < num_tokens_; pos += buf.size()) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), num_tokens_ - pos));
    STRATA_CHECK(read_range(tokens_, pos, n, H5T_NATIVE_UINT32, buf.data()), data, path_, ": cannot read tokens [",
                 pos, ", ", pos + n, ") of /tokens", hdf5_detail_suffix());
    for (std::size_t i = 0; i < n; ++i) {
      if (buf[i] >= vocab) {
        STRATA_THROW(data, path_, ": token ", buf[i], " at offset ", pos + i, " of /tokens (offset ",
                     global_base + pos + i, " of the dataset) is out of range; expected tokens < vocab_size = ",
                     vocab_size_);
      }
    }
  }
  const std::vector<std::uint64_t> offsets = read_doc_offsets();
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    STRATA_CHECK(offsets[i] <= num_tokens_ && (i == 0 || offsets[i] >= offsets[i - 1]), data, path_,
                 ": /doc_offsets[", i, "] = ", offsets[i], "; expected non-decreasing offsets <= ", num_tokens_,
                 " (the number of tokens)");
  }
}

// ---------------------------------------------------------------------------------------------------
// ShardWriter

ShardWriter::ShardWriter(std::string path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id,
                         std::size_t chunk_tokens)
    : path_(std::move(path)),
      tmp_path_(path_ + ".tmp"),
      vocab_size_(vocab_size),
      eos_id_(eos_id),
      chunk_tokens_(std::max<std::size_t>(chunk_tokens, 1)),
      file_type_(vocab_size <= 65536 ? H5T_STD_U16LE : H5T_STD_U32LE) {
  hdf5_silence_errors();
  STRATA_CHECK(vocab_size_ > 0 && vocab_size_ <= std::numeric_limits<std::int32_t>::max(), internal,
               path_, ": vocab_size ", vocab_size_, " out of range [1, 2147483647]");
  STRATA_CHECK(!eos_id_ || (*eos_id_ >= 0 && *eos_id_ < vocab_size_), internal, path_, ": eos_id ", *eos_id_,
               " outside [0, vocab_size = ", vocab_size_, ")");
  H5Id fapl = hdf5_file_access();
  file_ = H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  STRATA_CHECK(file_ >= 0, internal, tmp_path_, ": cannot create HDF5 file", hdf5_detail_suffix());
  buffer_.reserve(chunk_tokens_);
}

ShardWriter::~ShardWriter() {
  if (closed_) return;
  if (tokens_ >= 0) H5Dclose(tokens_);
  if (file_ >= 0) H5Fclose(file_);
  std::error_code ec;
  fs::remove(tmp_path_, ec);
}

void ShardWriter::begin_document() {
  STRATA_CHECK(!closed_, internal, path_, ": begin_document() after close()");
  doc_offsets_.push_back(num_tokens());
}

void ShardWriter::append(std::span<const std::int32_t> tokens) {
  STRATA_CHECK(!closed_, internal, path_, ": append() after close()");
  for (std::size_t i = 0; i < tokens.size();) {
    const std::size_t n = std::min(tokens.size() - i, chunk_tokens_ - buffer_.size());
    for (std::size_t j = i; j < i + n; ++j)
      STRATA_CHECK(tokens[j] >= 0 && tokens[j] < vocab_size_, internal, path_, ": token ", tokens[j],
                   " outside [0, vocab_size = ", vocab_size_, ")");
    buffer_.insert(buffer_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(i),
                   tokens.begin() + static_cast<std::ptrdiff_t>(i + n));
    i += n;
    if (buffer_.size() == chunk_tokens_) flush();
  }
}

void ShardWriter::flush() {
  if (tokens_ < 0) {
    // The chunk is the configured size, or the whole shard when it is smaller, so small shards
    // do not carry a mostly empty chunk.
    const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(chunk_tokens_, buffer_.size())), zero = 0,
                  unlimited = H5S_UNLIMITED;
    H5Id space(H5Screate_simple(1, &zero, &unlimited), H5Sclose);
    H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    STRATA_CHECK(space.valid() && dcpl.valid() && H5Pset_chunk(dcpl.get(), 1, &chunk) >= 0, internal, tmp_path_,
                 ": cannot set up /tokens", hdf5_detail_suffix());
    tokens_ = H5Dcreate2(file_, "tokens", file_type_, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT);
    STRATA_CHECK(tokens_ >= 0, internal, tmp_path_, ": cannot create /tokens", hdf5_detail_suffix());
  }
  if (buffer_.empty()) return;
  const hsize_t start = written_, n = buffer_.size(), total = written_ + buffer_.size();
  STRATA_CHECK(H5Dset_extent(tokens_, &total) >= 0, internal, tmp_path_, ": cannot extend /tokens to ", total,
               " tokens", hdf5_detail_suffix());
  H5Id file_space(H5Dget_space(tokens_), H5Sclose);
  H5Id mem_space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const bool ok = file_space.valid() && mem_space.valid() &&
                  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) >= 0 &&
                  H5Dwrite(tokens_, H5T_NATIVE_INT32, mem_space.get(), file_space.get(), H5P_DEFAULT,
                           buffer_.data()) >= 0;
  STRATA_CHECK(ok, internal, tmp_path_, ": cannot write tokens [", start, ", ", total, ") of /tokens",
               hdf5_detail_suffix());
  written_ = total;
  buffer_.clear();
}

void ShardWriter::close() {
  if (closed_) return;
  flush();  // also creates an empty /tokens for a shard without tokens
  auto write_attribute = [&](const char* name, std::int64_t value) {
    H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Id attr(H5Acreate2(file_, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    STRATA_CHECK(attr.valid() && H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) >= 0, internal, tmp_path_,
                 ": cannot write root attribute ", name, hdf5_detail_suffix());
  };
  write_attribute("vocab_size", vocab_size_);
  if (eos_id_) write_attribute("eos_id", *eos_id_);
  {
    const hsize_t n = doc_offsets_.size();
    H5Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Id dset(H5Dcreate2(file_, "doc_offsets", H5T_STD_U64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              H5Dclose);
    STRATA_CHECK(dset.valid() && (n == 0 || H5Dwrite(dset.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL,
                                                     H5P_DEFAULT, doc_offsets_.data()) >= 0),
                 internal, tmp_path_, ": cannot write /doc_offsets", hdf5_detail_suffix());
  }
  const herr_t dclose = H5Dclose(std::exchange(tokens_, H5I_INVALID_HID));
  const herr_t fclose = H5Fclose(std::exchange(file_, H5I_INVALID_HID));
  STRATA_CHECK(dclose >= 0 && fclose >= 0, internal, tmp_path_, ": cannot close HDF5 file", hdf5_detail_suffix());
  std::error_code ec;
  fs::rename(tmp_path_, path_, ec);
  STRATA_CHECK(!ec, internal, "cannot rename ", tmp_path_, " to ", path_, ": ", ec.message());
  closed_ = true;
}

// ---------------------------------------------------------------------------------------------------
// ShardSetWriter

ShardSetWriter::ShardSetWriter(std::string prefix, std::uint64_t shard_tokens, std::int64_t vocab_size,
                               std::optional<std::int32_t> eos_id)
    : prefix_(std::move(prefix)), shard_tokens_(shard_tokens), vocab_size_(vocab_size), eos_id_(eos_id) {
  STRATA_CHECK(shard_tokens_ > 0, internal, prefix_, ": shard_tokens must be positive");
}

void ShardSetWriter::begin_document() {
  ++documents_;
  if (current_) {
    current_->begin_document();
  } else {
    document_pending_ = true;
  }
}

void ShardSetWriter::append(std::span<const std::int32_t> tokens) {
  while (!tokens.empty()) {
    if (!current_) {
      char suffix[32];
      std::snprintf(suffix, sizeof(suffix), "_%06zu.h5", paths_.size());
      paths_.push_back(prefix_ + suffix);
      const auto chunk = std::min<std::uint64_t>(ShardWriter::default_chunk_tokens, shard_tokens_);
      current_.emplace(paths_.back(), vocab_size_, eos_id_, static_cast<std::size_t>(chunk));
      if (std::exchange(document_pending_, false)) current_->begin_document();
    }
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(tokens.size(), shard_tokens_ - current_->num_tokens()));
    current_->append(tokens.first(n));
    tokens = tokens.subspan(n);
    tokens_ += n;
    if (current_->num_tokens() == shard_tokens_) {
      current_->close();
      current_.reset();
    }
  }
}

void ShardSetWriter::close() {
  if (current_) current_->close();
  current_.reset();
}

}  // namespace strata
