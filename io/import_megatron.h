// import_megatron.h — Megatron-LM indexed datasets (megatron/core/datasets/indexed_dataset.py,
// `_IndexWriter` / `IndexedDatasetBuilder`): PREFIX.bin holds the tokens, PREFIX.idx describes them.
//
// PREFIX.idx, all little-endian:
//   bytes 0-8    b"MMIDIDX\x00\x00"
//   uint64       version, 1
//   uint8        dtype code: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16
//   uint64       S, the number of sequences
//   uint64       D, the number of document indices
//   int32[S]     sequence lengths, in tokens
//   int64[S]     sequence pointers: byte offset of each sequence in PREFIX.bin
//   int64[D]     document indices: [0, end of document 0, end of document 1, ..., S] — document d is
//                sequences [idx[d], idx[d+1]), so there are D - 1 documents (empty ones allowed)
//   int8[S]      sequence modes, only in multimodal datasets (read past, not used)
// The builder writes the sequences back to back, but readers follow the pointers, and so does this one:
// the token stream is sequence 0, 1, ..., S-1, each read at its pointer. A document begins at the first
// token of its first sequence; empty documents contribute nothing.
//
// Validated: the magic, version 1, an integer dtype (float codes are refused), the .idx size
// 34 + 12 S + 8 D (+ S), and, while streaming, every length >= 0, every sequence inside PREFIX.bin,
// the document indices starting at 0, non-decreasing, within [0, S] and ending at S.
// The index is streamed too (a few MiB of it in memory), so a huge .idx is fine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/import_source.h"

namespace strata {

// The two paths of a dataset given as PREFIX, PREFIX.bin or PREFIX.idx.
struct MegatronPaths {
  std::string bin, idx;
};
MegatronPaths megatron_paths(const std::string& input);

struct MegatronIndexHeader {
  int dtype_code = 0;
  TokenType type = TokenType::u16;
  std::uint64_t num_sequences = 0;  // S
  std::uint64_t num_doc_indices = 0;  // D (D - 1 documents)
  bool multimodal = false;          // a mode byte per sequence follows the document indices
};

inline constexpr std::uint64_t megatron_idx_header_bytes = 9 + 8 + 1 + 8 + 8;  // 34

// Reads and validates the .idx header and size. Error (data) naming the file otherwise.
MegatronIndexHeader read_megatron_index_header(BinaryInput& idx);

class MegatronSource : public TokenSource {
 public:
  MegatronSource(const std::string& input, std::int64_t vocab_size);
  bool next(TokenChunk& chunk, std::size_t max_tokens) override;
  const std::string& path() const override { return bin_.path(); }
  std::string description() const override;

 private:
  // One int array of the .idx, read front to back in batches.
  class IndexArray {
   public:
    IndexArray(const std::string& path, std::uint64_t offset, std::uint64_t count, std::size_t width, const char* what);
    std::int64_t next();  // the next element (lengths are int32, widened)
    std::uint64_t position() const { return done_; }

   private:
    BinaryInput in_;
    std::uint64_t offset_, count_;
    std::size_t width_;
    const char* what_;
    std::uint64_t done_ = 0;
    std::vector<unsigned char> batch_;
    std::size_t batch_pos_ = 0, batch_len_ = 0;  // elements
  };

  bool start_sequence();  // moves to the next sequence, noting a document start; false after the last
  void read_doc_index();  // reads and checks the next document index into next_doc_index_

  BinaryInput bin_;
  std::string idx_path_;
  MegatronIndexHeader header_;
  std::int64_t vocab_size_;
  IndexArray lengths_, pointers_, doc_indices_;
  std::uint64_t seq_ = 0;               // sequences started so far
  std::uint64_t seq_pointer_ = 0;       // current sequence: byte offset of its next token in .bin
  std::uint64_t seq_left_ = 0;          // current sequence: tokens not yet returned
  std::uint64_t tokens_done_ = 0;       // tokens returned so far (their index in this input)
  std::int64_t next_doc_index_ = 0;     // the last document index read: where the next document begins
  bool doc_pending_ = false;            // a document begins at the next token
  bool finished_ = false;
  std::vector<unsigned char> bytes_;
};

}  // namespace strata
