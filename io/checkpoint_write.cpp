// checkpoint_write.cpp — see checkpoint_write.h.
#include "io/checkpoint_write.h"

#include "io/atomic_file.h"
#include "io/hdf5_id.h"
#include "io/hdf5_lock.h"
#include "kernels/error.h"
#include "parallel/mpi_env.h"

namespace strata {

namespace {

// Whether `ok` holds on every rank of comm (one process: ok). Ranks agree before they go on, so that a
// failure on one rank never leaves the others waiting in a collective HDF5 call it skipped.
bool all_ok(MPI_Comm comm, bool ok) {
  if (comm == MPI_COMM_NULL) return ok;
  int v = ok ? 1 : 0;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, comm));
  return v == 1;
}

// The file opened for writing (with the MPI-IO driver when comm is not null) and the transfer properties
// (collective with MPI-IO); `error` says why it could not be opened. Closed under the HDF5 lock (closing
// is collective with MPI-IO: every rank closes, also when every rank throws).
struct OpenFile {
  H5Id xfer, file;
  std::string error;
  OpenFile(MPI_Comm comm, const std::string& path, bool collective) : xfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose) {
    hdf5_silence_errors();
    H5Id fapl = hdf5_file_access();
    if (comm != MPI_COMM_NULL && H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL) < 0)
      error = "cannot select the MPI-IO driver" + hdf5_detail_suffix();
    else if (comm != MPI_COMM_NULL && H5Pset_dxpl_mpio(xfer.get(), collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT) < 0)
      error = "cannot set the MPI-IO transfer mode" + hdf5_detail_suffix();
    if (!error.empty()) return;
    file = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose);
    if (!file.valid()) error = "cannot open it for writing" + hdf5_detail_suffix();
  }
  ~OpenFile() {
    const auto lock = hdf5_lock();
    xfer.reset();
    file.reset();
  }
};

// Why `w` is not a rectangle within its dataset, or "".
std::string rect_error(const std::vector<CheckpointDatasetSpec>& datasets, const CheckpointWrite& w) {
  if (w.dataset < 0 || static_cast<std::size_t>(w.dataset) >= datasets.size())
    return "a write names dataset " + std::to_string(w.dataset) + " of " + std::to_string(datasets.size());
  const CheckpointDatasetSpec& d = datasets[static_cast<std::size_t>(w.dataset)];
  const int64_t rows = d.shape.empty() ? 1 : d.shape[0], cols = checkpoint_cols(d.shape);
  const CheckpointRect& r = w.rect;
  if (d.shape.size() > 2 || w.dataset_cols != cols || r.row < 0 || r.col < 0 || r.rows < 0 || r.cols < 0 ||
      r.row + r.rows > rows || r.col + r.cols > cols || (r.count() > 0 && w.data == nullptr))
    return "rows [" + std::to_string(r.row) + ", " + std::to_string(r.row + r.rows) + ") columns [" +
           std::to_string(r.col) + ", " + std::to_string(r.col + r.cols) + ") do not lie within " + d.path + " (" +
           std::to_string(rows) + " x " + std::to_string(cols) + ")";
  return "";
}

// Writes the rectangle `w` (null: an empty selection, this rank's part of a collective round).
std::string write_round(hid_t file, hid_t xfer, const std::string& path, const CheckpointWrite* w) {
  const auto lock = hdf5_lock();
  hdf5_silence_errors();
  H5Id d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) return "cannot open dataset " + path + hdf5_detail_suffix();
  H5Id space(H5Dget_space(d.get()), H5Sclose);
  const hsize_t n = w != nullptr ? static_cast<hsize_t>(w->rect.count()) : 1;
  H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose);
  bool ok = space.valid() && mem.valid();
  static const float kNothing = 0.0f;
  const void* buf = &kNothing;
  if (ok && (w == nullptr || n == 0)) {
    ok = H5Sselect_none(space.get()) >= 0 && H5Sselect_none(mem.get()) >= 0;
  } else if (ok) {
    const int nd = H5Sget_simple_extent_ndims(space.get());
    const hsize_t start[2] = {static_cast<hsize_t>(w->rect.row), static_cast<hsize_t>(w->rect.col)};
    const hsize_t count[2] = {static_cast<hsize_t>(w->rect.rows), static_cast<hsize_t>(w->rect.cols)};
    ok = (nd == 2 || (w->rect.col == 0 && w->rect.cols == 1)) &&
         H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0;
    buf = w->data;
  }
  ok = ok && H5Dwrite(d.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), xfer, buf) >= 0;
  if (ok) return "";
  std::string what = "cannot write " + path;
  if (w != nullptr)
    what += " rows [" + std::to_string(w->rect.row) + ", " + std::to_string(w->rect.row + w->rect.rows) +
            ") columns [" + std::to_string(w->rect.col) + ", " + std::to_string(w->rect.col + w->rect.cols) + ")";
  return what + hdf5_detail_suffix();
}

}  // namespace

void write_checkpoint_data(MPI_Comm comm, const std::string& file, const std::vector<CheckpointDatasetSpec>& datasets,
                           const std::vector<CheckpointWrite>& writes, CheckpointTransfer transfer,
                           void (*after_half)()) {
  const bool collective = comm != MPI_COMM_NULL && transfer == CheckpointTransfer::collective;
  const std::size_t nd = datasets.size();
  std::vector<std::vector<const CheckpointWrite*>> mine(nd);
  std::string err;
  for (const CheckpointWrite& w : writes) {
    err = rect_error(datasets, w);
    if (!err.empty()) break;
    mine[static_cast<std::size_t>(w.dataset)].push_back(&w);
  }
  int rank = 0;
  if (comm != MPI_COMM_NULL) MPI_CHECK(MPI_Comm_rank(comm, &rank));
  STRATA_CHECK(all_ok(comm, err.empty()), internal, "checkpoint file ", file, ": ",
               err.empty() ? std::string("another rank has a bad rectangle") : "rank " + std::to_string(rank) + ": " + err);
  // Rounds per dataset: collective, the most rectangles any rank has of it; independent, this rank's.
  std::vector<int> rounds(nd);
  for (std::size_t d = 0; d < nd; ++d) rounds[d] = static_cast<int>(mine[d].size());
  if (collective && nd > 0)
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, rounds.data(), static_cast<int>(nd), MPI_INT, MPI_MAX, comm));

  {
    std::unique_lock<std::mutex> open_lock = hdf5_lock();
    OpenFile f(comm, file, collective);
    open_lock.unlock();
    err = f.error;
    STRATA_CHECK(all_ok(comm, err.empty()), internal, "checkpoint file ", file, ": ",
                 err.empty() ? "another rank could not open it" : err);
    for (std::size_t d = 0; d < nd; ++d) {
      if (after_half != nullptr && d == nd / 2) after_half();
      for (int k = 0; k < rounds[d] && err.empty(); ++k) {
        err = write_round(f.file.get(), f.xfer.get(), datasets[d].path,
                          k < static_cast<int>(mine[d].size()) ? mine[d][static_cast<std::size_t>(k)] : nullptr);
        if (collective)
          STRATA_CHECK(all_ok(comm, err.empty()), internal, "checkpoint file ", file, ": ",
                       err.empty() ? "another rank failed to write " + datasets[d].path : err);
      }
    }
    {
      const auto lock = hdf5_lock();
      hdf5_silence_errors();
      f.xfer.reset();
      if (H5Fclose(f.file.release()) < 0 && err.empty()) err = "cannot close it" + hdf5_detail_suffix();
    }
  }
  if (err.empty()) {
    try {
      fsync_path(file);  // what this node wrote is on disk
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  STRATA_CHECK(all_ok(comm, err.empty()), internal, "checkpoint file ", file, ": ",
               err.empty() ? "another rank could not make its part durable" : err);
}

}  // namespace strata
