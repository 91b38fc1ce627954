// checkpoint_file.h — the checkpoint format (SPEC section 8) and whole-checkpoint access from one process.
//
// A checkpoint directory holds one directory per saved step and a pointer to the newest complete one:
//   <dir>/step_<8-digit step>/state.h5   every dataset and the metadata (below)
//   <dir>/latest                         text "step_<8-digit step>\n", replaced atomically (temp + fsync +
//                                        rename) only after the step directory is complete and durable
// A step directory is written as <dir>/.tmp_step_<8-digit step>/ and renamed when complete, so a
// directory named step_* is always whole (a crash leaves only a .tmp_* directory, removed by the next save).
//
// state.h5 (HDF5; written collectively by all ranks with MPI-IO, or by one process):
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
// Checksum of a dataset of n elements with float bits b_i: sum over i of mix64(i, b_i) mod 2^64 (see
// checkpoint_checksum). Order-independent and additive, so every rank hashes the elements it owns and
// the sum over ranks is the dataset's checksum whatever the layout.
#pragma once

#include <cstddef>
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

struct CheckpointContents {
  int format_version = kCheckpointFormatVersion;
  int64_t step = 0;
  int64_t tokens = 0;
  uint64_t loader_next_sample = 0;
  uint64_t seed = 0;
  double lr = 0.0;
  std::string config_ini;
  std::string layout;
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

}  // namespace strata
