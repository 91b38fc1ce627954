// checkpoint_file.h — the checkpoint format (SPEC section 8) and whole-checkpoint access from one process.
//
// A checkpoint directory holds one directory per saved step and a pointer to the newest complete one:
//   <dir>/step_<8-digit step>/state.h5   every dataset and the metadata (below)
//   <dir>/latest                         text "step_<8-digit step>\n", replaced atomically (temp + fsync +
//                                        rename) only after the step directory is complete and durable
// A step directory is written as <dir>/.tmp_step_<8-digit step>/ and renamed when complete, so a
// directory named step_* is always whole (a crash leaves only a .tmp_* directory, removed by the next save).
//
// state.h5 (HDF5; created by one rank, then the tensors written collectively by all ranks with parallel HDF5
// (MPI-IO, io/checkpoint_write.h), or everything by one process):
//   /params/<name>       float32, full logical shape: the parameters, which are the fp32 master weights
//   /exp_avg/<name>      float32, same shape: AdamW first moment
//   /exp_avg_sq/<name>   float32, same shape: AdamW second moment
// <name> is the Hugging Face GPT-2 name ("wte.weight", "h.3.attn.c_attn.weight", "ln_f.bias") in Strata's
// orientation: matrices are (out, in) (the transpose of HF's Conv1D weights); wte is (vocab_size, hidden),
// without the internal vocabulary padding. Every dataset has a uint64 attribute "checksum" (below).
// Root attributes: format_version (int), step, tokens (int64), loader_next_sample (uint64: the next
// global sample index of the training data), seed (uint64: the RNG seed; the trainer draws no other
// random numbers, so the seed and the step are its whole RNG state), lr (double: the learning rate of the
// next step; the schedule is a function of the step and the config), config (string: INI text of the
// configuration it was saved with), layout (string: "tensor=T pipeline=P data=D zero=Z", informative).
//
// Checksum of a dataset of n elements with float bits b_i (uint32): sum over i of
// (b_i ^ h(i)) * 0xBF58476D mod 2^64, h(i) = (i * 0x9E3779B97F4A7C15 mod 2^64) >> 32 (checkpoint_checksum). Order-independent and additive, so every rank hashes the elements it owns and
// the sum over ranks is the dataset's checksum whatever the layout.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <optional>
#include <cstdint>
#include <string>
#include <vector>

namespace strata {

constexpr int kCheckpointFormatVersion = 1;
constexpr const char* kCheckpointStateFile = "state.h5";

struct CheckpointTensor {
  std::string name;            // HF GPT-2 name, e.g. "h.3.attn.c_attn.weight"
  std::vector<int64_t> shape;  // full logical shape, (out, in) for matrices
  std::vector<float> data;     // row-major, product(shape) floats
};

// Everything but the tensors (root attributes of state.h5).
struct CheckpointMeta {
  int format_version = kCheckpointFormatVersion;
  int64_t step = 0;
  int64_t tokens = 0;
  uint64_t loader_next_sample = 0;
  uint64_t seed = 0;
  double lr = 0.0;
  std::string config_ini;
  std::string layout;
};

struct CheckpointContents : CheckpointMeta {
  // The same names and shapes in all three lists (exp_avg/exp_avg_sq may be all zeros: a fresh import).
  std::vector<CheckpointTensor> params, exp_avg, exp_avg_sq;
};

// Reads a whole step directory (or a checkpoint directory: its `latest`), verifying every dataset's
// checksum and the format version. Throws Error{data} naming the file and dataset.
CheckpointContents read_checkpoint(const std::string& step_dir);

// Writes <checkpoint_dir>/step_<contents.step>/ and then points <checkpoint_dir>/latest at it, atomically,
// from one process (creates checkpoint_dir if needed). Checksums are computed here. Throws Error{data}
// (or internal for I/O failures) naming the path.
void write_checkpoint(const std::string& checkpoint_dir, const CheckpointContents& contents);

// A step directory from a checkpoint directory (following `latest`) or a step directory itself. Throws
// Error{data} when neither is found.
std::string resolve_checkpoint(const std::string& checkpoint_dir_or_step_dir);

// "step_00000042".
std::string checkpoint_step_name(int64_t step);

// The checksum contribution of n consecutive elements starting at dataset index `first`.
uint64_t checkpoint_checksum(const float* data, std::size_t n, uint64_t first = 0);

// ---- Building blocks of the parallel save and load (src/checkpoint.h drives them over the ranks). ----

// The three dataset groups, in file order.
constexpr const char* kCheckpointGroups[3] = {"params", "exp_avg", "exp_avg_sq"};

// A rectangle of a dataset seen as (rows, cols) (a 1-D dataset of n elements is (n, 1)): rows
// [row, row + rows), columns [col, col + cols). Its elements are stored row-major in memory.
struct CheckpointRect {
  int64_t row = 0, rows = 0, col = 0, cols = 0;
  int64_t count() const { return rows * cols; }
};

// Number of columns of the (rows, cols) view of a shape.
int64_t checkpoint_cols(const std::vector<int64_t>& shape);

// Checksum contribution of a rectangle's elements (data: rect.count() floats, row-major).
uint64_t checkpoint_rect_checksum(const float* data, const CheckpointRect& rect, int64_t dataset_cols);

struct CheckpointDatasetSpec {
  std::string path;            // "params/wte.weight"
  std::vector<int64_t> shape;  // full logical shape
};

// Creates `file` (serial HDF5, one process) with the metadata and every dataset (contiguous, allocated,
// unwritten, checksum 0), so that the ranks can then write their rectangles into it collectively
// (io/checkpoint_write.h). Error internal on I/O failure.
void create_checkpoint_file(const std::string& file, const CheckpointMeta& meta,
                            const std::vector<CheckpointDatasetSpec>& datasets);

// Stores the datasets' checksums (attribute "checksum") and fsyncs the file (one process, after every
// rank's data is written).
void set_checkpoint_checksums(const std::string& file, const std::vector<CheckpointDatasetSpec>& datasets,
                              const std::vector<uint64_t>& checksums);

// <dir>/.tmp_step_<step>, where a step directory is written.
std::string checkpoint_temp_dir(const std::string& checkpoint_dir, int64_t step);

// <dir>/.tmp_step_<step>: removed if present, then created (with <dir>). Returns its path.
std::string prepare_checkpoint_temp_dir(const std::string& checkpoint_dir, int64_t step);

// Renames <dir>/.tmp_step_<step> to <dir>/step_<step> (replacing an older one of that step), fsyncs,
// then replaces <dir>/latest atomically, then retires all but the `keep` newest step directories (the
// new one never): they are renamed to <dir>/.trash_step_<step>, which is quick; deleting their files
// (seconds for a large model on some filesystems) is left to remove_checkpoint_trash, which the trainer
// runs on a background thread. `before_latest` (may be empty) runs between the rename and the update of
// latest (the test crash hook). Leftover .tmp_step_* directories (a crashed save) are removed.
void commit_checkpoint_dir(const std::string& checkpoint_dir, int64_t step, int keep,
                           void (*before_latest)() = nullptr);

// Deletes the retired checkpoints (<dir>/.trash_*; also those a crash left). Never throws: what cannot
// be removed now is tried again after the next commit.
void remove_checkpoint_trash(const std::string& checkpoint_dir) noexcept;

// The step directories of a checkpoint directory, newest first (names step_<8 digits> only).
std::vector<std::string> list_checkpoints(const std::string& checkpoint_dir);

// The step directory `latest` names, or nullopt when there is no `latest`. Error data if it names
// something that is not a step directory.
std::optional<std::string> latest_checkpoint(const std::string& checkpoint_dir);

// Read access to one step directory's state.h5 (serial HDF5 per process; many processes may read one
// checkpoint at once). Every failure is Error{data} naming the file and the dataset.
class CheckpointReader {
 public:
  // Opens <step_dir>/state.h5 and reads the metadata; checks the format version.
  explicit CheckpointReader(const std::string& step_dir);
  ~CheckpointReader();
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  const std::string& file() const { return file_; }
  const CheckpointMeta& meta() const { return meta_; }
  // Dataset paths under `group` ("params", ...), sorted.
  std::vector<std::string> names(const std::string& group) const;
  // Shape of dataset `path` ("params/wte.weight"); Error data when missing.
  std::vector<int64_t> shape(const std::string& path) const;
  uint64_t stored_checksum(const std::string& path) const;
  // Reads a rectangle of dataset `path` into dst (rect.count() floats, row-major).
  void read(const std::string& path, const CheckpointRect& rect, float* dst) const;

 private:
  std::string file_;
  hid_t file_id_ = H5I_INVALID_HID;
  CheckpointMeta meta_;
};

}  // namespace strata
