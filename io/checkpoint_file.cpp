// checkpoint_file.cpp — see checkpoint_file.h: the state.h5 file, checksums, atomic step directories.
#include "io/checkpoint_file.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <system_error>

#include "io/atomic_file.h"
#include "io/hdf5_id.h"
#include "io/hdf5_lock.h"
#include "io/shard.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace strata {

static_assert(std::endian::native == std::endian::little, "state.h5 stores little-endian floats written raw");

namespace {

// Term of element i with float bits b: (b ^ h(i)) * K2 as a full 32 x 32 -> 64-bit product, with
// h(i) = the high 32 bits of i * K1 (mod 2^64). For a given i the term is an injective function of b
// (xor with a constant, then a product that cannot overflow), so changing any one element changes the
// sum; h makes the term depend on the position, so moved values change it too. The loop vectorizes
// (one 32-bit multiply-to-64 per element, the index product as a running sum).
constexpr uint64_t kMixIndex = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMixValue = 0xBF58476Du;

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& file) {
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  STRATA_CHECK(attr.valid() && H5Awrite(attr.get(), type.get(), padded.data()) >= 0, internal, file,
               ": cannot write attribute ", name, hdf5_detail_suffix());
}

template <class T>
void write_scalar_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, T value, const std::string& file) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  STRATA_CHECK(attr.valid() && H5Awrite(attr.get(), mem_type, &value) >= 0, internal, file, ": cannot write attribute ",
               name, hdf5_detail_suffix());
}

template <class T>
T read_scalar_attr(hid_t obj, const char* name, hid_t mem_type, const std::string& where) {
  H5Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  T value{};
  STRATA_CHECK(attr.valid() && H5Aread(attr.get(), mem_type, &value) >= 0, data, where, ": attribute ", name,
               " is missing or unreadable", hdf5_detail_suffix());
  return value;
}

std::string read_string_attr(hid_t obj, const char* name, const std::string& where) {
  H5Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  H5Id type(attr.valid() ? H5Aget_type(attr.get()) : H5I_INVALID_HID, H5Tclose);
  STRATA_CHECK(attr.valid() && type.valid() && H5Tget_class(type.get()) == H5T_STRING &&
                   H5Tis_variable_str(type.get()) == 0,
               data, where, ": attribute ", name, " is missing or not a fixed-length string", hdf5_detail_suffix());
  std::string value(H5Tget_size(type.get()), '\0');
  STRATA_CHECK(H5Aread(attr.get(), type.get(), value.data()) >= 0, data, where, ": cannot read attribute ", name,
               hdf5_detail_suffix());
  value.resize(std::strlen(value.c_str()));
  return value;
}

bool is_step_name(const std::string& name) {
  static const std::regex re("step_[0-9]{8,}");
  return std::regex_match(name, re);
}

}  // namespace

std::string checkpoint_temp_dir(const std::string& checkpoint_dir, int64_t step) {
  return (fs::path(checkpoint_dir) / (".tmp_" + checkpoint_step_name(step))).string();
}

std::string checkpoint_step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step_%08lld", static_cast<long long>(step));
  return buf;
}

uint64_t checkpoint_checksum(const float* data, std::size_t n, uint64_t first) {
  uint64_t sum = 0;
  const auto* bits = reinterpret_cast<const uint32_t*>(data);
#pragma omp parallel for reduction(+ : sum) schedule(static) if (n > (1u << 22))
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t h = static_cast<uint32_t>(((first + i) * kMixIndex) >> 32);
    sum += static_cast<uint64_t>(bits[i] ^ h) * kMixValue;
  }
  return sum;
}

int64_t checkpoint_cols(const std::vector<int64_t>& shape) { return shape.size() >= 2 ? shape.back() : 1; }

uint64_t checkpoint_rect_checksum(const float* data, const CheckpointRect& rect, int64_t dataset_cols) {
  if (rect.cols == dataset_cols)
    return checkpoint_checksum(data, static_cast<std::size_t>(rect.count()), static_cast<uint64_t>(rect.row * dataset_cols));
  uint64_t sum = 0;
  for (int64_t r = 0; r < rect.rows; ++r)
    sum += checkpoint_checksum(data + r * rect.cols, static_cast<std::size_t>(rect.cols),
                               static_cast<uint64_t>((rect.row + r) * dataset_cols + rect.col));
  return sum;
}

void create_checkpoint_file(const std::string& file, const CheckpointMeta& meta,
                            const std::vector<CheckpointDatasetSpec>& datasets) {
  const auto lock = hdf5_lock();
  hdf5_silence_errors();
  H5Id fapl = hdf5_file_access();
  H5Id f(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  STRATA_CHECK(f.valid(), internal, "cannot create checkpoint file ", file, hdf5_detail_suffix());
  const hid_t root = f.get();
  write_scalar_attr<int32_t>(root, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, meta.format_version, file);
  write_scalar_attr<int64_t>(root, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, meta.step, file);
  write_scalar_attr<int64_t>(root, "tokens", H5T_STD_I64LE, H5T_NATIVE_INT64, meta.tokens, file);
  write_scalar_attr<uint64_t>(root, "loader_next_sample", H5T_STD_U64LE, H5T_NATIVE_UINT64, meta.loader_next_sample, file);
  write_scalar_attr<uint64_t>(root, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, meta.seed, file);
  write_scalar_attr<double>(root, "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, meta.lr, file);
  write_string_attr(root, "config", meta.config_ini, file);
  write_string_attr(root, "layout", meta.layout, file);
  // Groups remember the order datasets were created in (the model's order), for readers that list them.
  H5Id gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  for (const char* g : kCheckpointGroups) {
    H5Id group(H5Gcreate2(root, g, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
    STRATA_CHECK(group.valid(), internal, file, ": cannot create group ", g, hdf5_detail_suffix());
  }
  // Contiguous and allocated at creation, never filled: each rank then writes its rectangles in place.
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
  H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  for (const CheckpointDatasetSpec& d : datasets) {
    std::vector<hsize_t> dims(d.shape.begin(), d.shape.end());
    H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    H5Id dset(H5Dcreate2(root, d.path.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
              H5Dclose);
    STRATA_CHECK(dset.valid(), internal, file, ": cannot create dataset ", d.path, hdf5_detail_suffix());
    write_scalar_attr<uint64_t>(dset.get(), "checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, file);
  }
  STRATA_CHECK(H5Fclose(f.release()) >= 0, internal, "cannot close ", file, hdf5_detail_suffix());
}

void set_checkpoint_checksums(const std::string& file, const std::vector<CheckpointDatasetSpec>& datasets,
                              const std::vector<uint64_t>& checksums) {
  {
    const auto lock = hdf5_lock();
    hdf5_silence_errors();
    H5Id fapl = hdf5_file_access();
    H5Id f(H5Fopen(file.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose);
    STRATA_CHECK(f.valid(), internal, "cannot reopen checkpoint file ", file, hdf5_detail_suffix());
    for (std::size_t i = 0; i < datasets.size(); ++i) {
      H5Id dset(H5Dopen2(f.get(), datasets[i].path.c_str(), H5P_DEFAULT), H5Dclose);
      H5Id attr(dset.valid() ? H5Aopen(dset.get(), "checksum", H5P_DEFAULT) : H5I_INVALID_HID, H5Aclose);
      STRATA_CHECK(attr.valid() && H5Awrite(attr.get(), H5T_NATIVE_UINT64, &checksums[i]) >= 0, internal, file,
                   ": cannot write the checksum of ", datasets[i].path, hdf5_detail_suffix());
    }
    STRATA_CHECK(H5Fclose(f.release()) >= 0, internal, "cannot close ", file, hdf5_detail_suffix());
  }
  fsync_path(file, false);
}

std::string prepare_checkpoint_temp_dir(const std::string& checkpoint_dir, int64_t step) {
  const std::string tmp = checkpoint_temp_dir(checkpoint_dir, step);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  STRATA_CHECK(!ec, internal, "cannot create checkpoint directory ", tmp, ": ", ec.message());
  return tmp;
}

namespace {

// Removes the entries of `dir` whose names start with `prefix`, ignoring errors (collected first:
// removing while iterating is not portable).
void remove_prefixed(const std::string& dir, const std::string& prefix) noexcept {
  try {
    std::vector<fs::path> doomed;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().rfind(prefix, 0) == 0) doomed.push_back(it->path());
    for (const fs::path& p : doomed) fs::remove_all(p, ec);
  } catch (...) {  // std::bad_alloc: leave it for the next time
  }
}

}  // namespace

void remove_checkpoint_trash(const std::string& checkpoint_dir) noexcept { remove_prefixed(checkpoint_dir, ".trash_"); }

void commit_checkpoint_dir(const std::string& checkpoint_dir, int64_t step, int keep, void (*before_latest)()) {
  const fs::path dir(checkpoint_dir);
  const std::string name = checkpoint_step_name(step);
  const std::string tmp = checkpoint_temp_dir(checkpoint_dir, step), final_dir = (dir / name).string();
  fsync_path(tmp, true);
  std::error_code ec;
  // An older checkpoint of the same step (a run resumed from before it) moves aside first: a step_*
  // name always holds a complete checkpoint.
  auto retire = [&](const std::string& step_name) {
    const fs::path trash = dir / (".trash_" + step_name);
    fs::remove_all(trash, ec);
    fs::rename(dir / step_name, trash, ec);
  };
  if (fs::exists(final_dir)) {
    retire(name);
    STRATA_CHECK(!ec, internal, "cannot move ", final_dir, " aside: ", ec.message());
  }
  fs::rename(tmp, final_dir, ec);
  STRATA_CHECK(!ec, internal, "cannot rename ", tmp, " to ", final_dir, ": ", ec.message());
  fsync_path(checkpoint_dir, true);
  if (before_latest != nullptr) before_latest();
  const std::string latest = (dir / "latest").string(), latest_tmp = latest + ".tmp";
  {
    std::ofstream out(latest_tmp, std::ios::trunc);
    out << name << "\n";
    out.close();
    STRATA_CHECK(out, internal, "cannot write ", latest_tmp);
  }
  fsync_path(latest_tmp, false);
  fs::rename(latest_tmp, latest, ec);
  STRATA_CHECK(!ec, internal, "cannot rename ", latest_tmp, " to ", latest, ": ", ec.message());
  fsync_path(checkpoint_dir, true);
  // Keep the `keep` newest checkpoints up to this step (this one included). Newer step directories
  // (from a run this one was not resumed from the end of) are left alone.
  int kept = 0;
  for (const std::string& s : list_checkpoints(checkpoint_dir)) {
    if (s > name) continue;
    if (++kept > keep) retire(s);
  }
  remove_prefixed(checkpoint_dir, ".tmp_step_");
}

std::vector<std::string> list_checkpoints(const std::string& checkpoint_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoint_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (is_step_name(n) && e.is_directory()) out.push_back(n);
  }
  // Same width sorts as text; a longer name (step >= 10^8) is a later step.
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a > b;
  });
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& checkpoint_dir) {
  const fs::path latest = fs::path(checkpoint_dir) / "latest";
  if (!fs::exists(latest)) return std::nullopt;
  std::ifstream in(latest);
  std::string name;
  std::getline(in, name);
  STRATA_CHECK(is_step_name(name), data, latest.string(), ": expected a line step_<8 digits>, found '", name, "'");
  const fs::path step_dir = fs::path(checkpoint_dir) / name;
  STRATA_CHECK(fs::is_directory(step_dir), data, latest.string(), " names ", name, ", which is missing");
  return step_dir.string();
}

std::string resolve_checkpoint(const std::string& path) {
  if (fs::exists(fs::path(path) / kCheckpointStateFile)) return path;
  if (auto latest = latest_checkpoint(path)) return *latest;
  STRATA_CHECK(!fs::exists(path) || !is_step_name(fs::path(path).filename().string()), data, path, ": ",
               kCheckpointStateFile, " is missing");
  STRATA_THROW(data, "no checkpoint at ", path, ": expected a step directory (with ", kCheckpointStateFile,
               ") or a checkpoint directory with a latest file");
}

CheckpointReader::CheckpointReader(const std::string& step_dir)
    : file_((fs::path(step_dir) / kCheckpointStateFile).string()) {
  STRATA_CHECK(fs::exists(file_), data, file_, ": checkpoint file is missing");
  const auto lock = hdf5_lock();
  hdf5_silence_errors();
  H5Id fapl = hdf5_file_access();
  file_id_ = H5Fopen(file_.c_str(), H5F_ACC_RDONLY, fapl.get());
  STRATA_CHECK(file_id_ >= 0, data, file_, ": cannot open the checkpoint (truncated or not HDF5?)", hdf5_detail_suffix());
  meta_.format_version = read_scalar_attr<int32_t>(file_id_, "format_version", H5T_NATIVE_INT32, file_);
  STRATA_CHECK(meta_.format_version == kCheckpointFormatVersion, data, file_, ": unknown checkpoint format version ",
               meta_.format_version, " (this build reads version ", kCheckpointFormatVersion, ")");
  meta_.step = read_scalar_attr<int64_t>(file_id_, "step", H5T_NATIVE_INT64, file_);
  meta_.tokens = read_scalar_attr<int64_t>(file_id_, "tokens", H5T_NATIVE_INT64, file_);
  meta_.loader_next_sample = read_scalar_attr<uint64_t>(file_id_, "loader_next_sample", H5T_NATIVE_UINT64, file_);
  meta_.seed = read_scalar_attr<uint64_t>(file_id_, "seed", H5T_NATIVE_UINT64, file_);
  meta_.lr = read_scalar_attr<double>(file_id_, "lr", H5T_NATIVE_DOUBLE, file_);
  meta_.config_ini = read_string_attr(file_id_, "config", file_);
  meta_.layout = read_string_attr(file_id_, "layout", file_);
}

CheckpointReader::~CheckpointReader() {
  if (file_id_ >= 0) {
    const auto lock = hdf5_lock();
    H5Fclose(file_id_);
  }
}

std::vector<std::string> CheckpointReader::names(const std::string& group) const {
  const auto lock = hdf5_lock();
  H5Id g(H5Gopen2(file_id_, group.c_str(), H5P_DEFAULT), H5Gclose);
  STRATA_CHECK(g.valid(), data, file_, ": group /", group, " is missing", hdf5_detail_suffix());
  H5G_info_t info;
  STRATA_CHECK(H5Gget_info(g.get(), &info) >= 0, data, file_, ": cannot list /", group, hdf5_detail_suffix());
  H5Id gcpl(H5Gget_create_plist(g.get()), H5Pclose);
  unsigned order = 0;
  H5Pget_link_creation_order(gcpl.get(), &order);
  const H5_index_t index = (order & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    STRATA_CHECK(n >= 0, data, file_, ": cannot list /", group, hdf5_detail_suffix());
    std::string name(static_cast<std::size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(n));
    out.push_back(group + "/" + name);
  }
  return out;
}

std::vector<int64_t> CheckpointReader::shape(const std::string& path) const {
  const auto lock = hdf5_lock();
  const htri_t exists = H5Lexists(file_id_, path.c_str(), H5P_DEFAULT);
  STRATA_CHECK(exists > 0, data, file_, ": dataset ", path, " is missing", hdf5_detail_suffix());
  H5Id d(H5Dopen2(file_id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  H5Id space(d.valid() ? H5Dget_space(d.get()) : H5I_INVALID_HID, H5Sclose);
  STRATA_CHECK(space.valid(), data, file_, ": cannot open dataset ", path, hdf5_detail_suffix());
  const int nd = H5Sget_simple_extent_ndims(space.get());
  STRATA_CHECK(nd == 1 || nd == 2, data, file_, ": dataset ", path, " has ", nd, " dimensions, expected 1 or 2");
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return std::vector<int64_t>(dims, dims + nd);
}

uint64_t CheckpointReader::stored_checksum(const std::string& path) const {
  const auto lock = hdf5_lock();
  H5Id d(H5Dopen2(file_id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  STRATA_CHECK(d.valid(), data, file_, ": dataset ", path, " is missing", hdf5_detail_suffix());
  return read_scalar_attr<uint64_t>(d.get(), "checksum", H5T_NATIVE_UINT64, file_ + ": dataset " + path);
}

void CheckpointReader::read(const std::string& path, const CheckpointRect& rect, float* dst) const {
  if (rect.count() == 0) return;
  const auto lock = hdf5_lock();
  H5Id d(H5Dopen2(file_id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  STRATA_CHECK(d.valid(), data, file_, ": dataset ", path, " is missing", hdf5_detail_suffix());
  H5Id space(H5Dget_space(d.get()), H5Sclose);
  const int nd = H5Sget_simple_extent_ndims(space.get());
  const hsize_t start[2] = {static_cast<hsize_t>(rect.row), static_cast<hsize_t>(rect.col)};
  const hsize_t count[2] = {static_cast<hsize_t>(rect.rows), static_cast<hsize_t>(rect.cols)};
  const hsize_t n = static_cast<hsize_t>(rect.count());
  H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const bool ok = (nd == 2 || rect.cols == 1) &&
                  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0 &&
                  H5Dread(d.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), H5P_DEFAULT, dst) >= 0;
  STRATA_CHECK(ok, data, file_, ": dataset ", path, ": cannot read rows [", rect.row, ", ", rect.row + rect.rows,
               ") columns [", rect.col, ", ", rect.col + rect.cols, ")", hdf5_detail_suffix());
}

}  // namespace strata
