// safetensors.h — the safetensors file format (Hugging Face, github.com/huggingface/safetensors):
//
//   bytes 0..7        N, the header length, unsigned 64-bit little-endian (at most 100 MB)
//   bytes 8..8+N      a JSON object (UTF-8, may be padded with spaces):
//                       "<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
//                       "__metadata__": {"<key>": "<string value>", ...}       (optional)
//   bytes 8+N..       the data buffer; each tensor's row-major little-endian values lie at
//                     [begin, end) relative to the buffer's start. The tensors cover the buffer exactly:
//                     no holes, no overlaps, and the file ends with the last tensor.
// Written: F32 only, tensors in the given order, header padded with spaces to a multiple of 8 bytes
// (so the buffer is 8-byte aligned). Read: F32, F64, F16 and BF16, converted to fp32.
#pragma once

#include <map>
#include <string>

#include "io/gpt2_tensors.h"

namespace strata {

struct SafetensorsFile {
  TensorList tensors;                          // in the order of their data in the file
  std::map<std::string, std::string> metadata; // "__metadata__"
};

// Reads every tensor of `path`. Error (data) naming the file, and the tensor where there is one, for a
// missing or truncated file, a malformed header, an unknown dtype, offsets that disagree with the
// shape, holes or overlaps in the buffer, or bytes after the last tensor.
SafetensorsFile read_safetensors(const std::string& path);

// Writes `tensors` as F32 with `metadata` (atomically: <path>.tmp renamed). Error (internal) when the
// file cannot be written; tensor names must be unique and not "__metadata__".
void write_safetensors(const std::string& path, const TensorList& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// fp16 and bf16 bit patterns to fp32 (exact).
float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

}  // namespace strata
