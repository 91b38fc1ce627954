// shard.h — HDF5 token shards (SPEC section 7): `Shard` reads any file of the shard shape, whoever
// wrote it; `ShardWriter` writes one shard; `ShardSetWriter` writes a numbered series of them.
//
// The shard shape:
//   /tokens            1-D unsigned integer dataset (1, 2 or 4 bytes, any byte order, any layout:
//                      contiguous, chunked, compressed). Strata writes uint16 when vocab_size <= 65536,
//                      else uint32, chunked, uncompressed.
//   @vocab_size        root attribute, integer > 0 (every token must be < vocab_size)
//   @eos_id            optional root attribute, integer in [0, vocab_size)
//   /doc_offsets       optional 1-D integer dataset: the offset in /tokens where each document that
//                      begins in this shard begins (a document may continue from the previous shard)
//
// Rules: a shard is never loaded whole; reads are hyperslabs converted by HDF5 to native int32.
// Shards are opened read-only with serial HDF5 on the calling rank. HDF5 here is not thread-safe:
// call every function of io/ from one thread. Every failure is an Error naming the file.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata {

// Turns off HDF5's automatic error printing (once per process); io/ reports failures as Errors.
void hdf5_silence_errors();

// The innermost message of HDF5's current error stack (e.g. "truncated file: eof = 100, ..."),
// or "" when the stack is empty. Used to say why an HDF5 call failed.
std::string hdf5_error_detail();

// Expands shard inputs into files: a file is taken as is, a directory gives its *.h5 files (not
// recursive), anything else is a glob pattern. Each input's expansion is sorted; inputs keep their
// order. `what` names the source in messages (e.g. "data.train"). Errors (data): an input that is
// neither a file, a directory nor a matching glob; a directory without *.h5 files.
std::vector<std::string> expand_shard_paths(const std::vector<std::string>& inputs, const std::string& what);

// A read-only token shard. Opening reads the metadata only (shape, type, attributes).
class Shard {
 public:
  // Opens and validates `path`: exists, is HDF5, has a 1-D unsigned-integer /tokens of 1, 2 or 4
  // bytes, a positive integer vocab_size <= 2^31-1, an eos_id (if any) below vocab_size and a 1-D
  // /doc_offsets (if any). Error (data) naming the file and what was found otherwise.
  explicit Shard(std::string path);
  ~Shard();
  Shard(Shard&& other) noexcept;
  Shard& operator=(Shard&& other) noexcept;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t num_tokens() const { return num_tokens_; }
  std::int64_t vocab_size() const { return vocab_size_; }
  std::optional<std::int32_t> eos_id() const { return eos_id_; }
  int token_bytes() const { return token_bytes_; }  // stored width of /tokens: 1, 2 or 4
  std::string dtype_name() const;                   // "uint8", "uint16", "uint32"
  std::string storage_description() const;          // e.g. "chunked (65536 tokens), deflate"
  bool has_doc_offsets() const { return num_doc_offsets_.has_value(); }
  std::optional<std::uint64_t> num_documents() const { return num_doc_offsets_; }  // /doc_offsets length

  // Tokens [offset, offset + count) as int32 into dst. Error (internal) if the range is outside the
  // shard; Error (data) naming file and offset if HDF5 cannot read it (corrupt chunk, I/O error).
  void read(std::uint64_t offset, std::size_t count, std::int32_t* dst) const;

  // The whole /doc_offsets (empty when absent). Small: one entry per document.
  std::vector<std::uint64_t> read_doc_offsets() const;

  // Full check, streaming in chunks of `chunk_tokens`: every token < vocab_size and /doc_offsets
  // non-decreasing and <= num_tokens. Error (data) naming the file and the offset of the first bad
  // token (its global offset too when `global_base` is the shard's offset in a dataset).
  void validate(std::size_t chunk_tokens = std::size_t{1} << 20, std::uint64_t global_base = 0) const;

 private:
  void close() noexcept;
  std::string path_;
  hid_t file_ = H5I_INVALID_HID;
  hid_t tokens_ = H5I_INVALID_HID;
  std::uint64_t num_tokens_ = 0;
  std::int64_t vocab_size_ = 0;
  std::optional<std::int32_t> eos_id_;
  int token_bytes_ = 0;
  std::optional<std::uint64_t> num_doc_offsets_;
};

// Writes one shard. Tokens go to `<path>.tmp`; close() writes the attributes and /doc_offsets, closes
// the file and renames it to `<path>`, so a file named `<path>` is always complete. Destroying an
// unclosed writer removes the .tmp file. Write failures are Error internal (disk full, permissions).
class ShardWriter {
 public:
  static constexpr std::size_t default_chunk_tokens = 65536;  // 128 KiB of uint16: cheap random reads

  ShardWriter(std::string path, std::int64_t vocab_size, std::optional<std::int32_t> eos_id,
              std::size_t chunk_tokens = default_chunk_tokens);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Records that a document begins at the current end of the token stream (an entry of /doc_offsets).
  void begin_document();
  // Appends tokens; each must be in [0, vocab_size) (Error internal otherwise: a tokenizer bug).
  void append(std::span<const std::int32_t> tokens);
  // Finishes the file and renames it into place. Idempotent.
  void close();

  const std::string& path() const { return path_; }
  std::uint64_t num_tokens() const { return written_ + buffer_.size(); }
  std::uint64_t num_documents() const { return doc_offsets_.size(); }

 private:
  void flush();
  std::string path_, tmp_path_;
  std::int64_t vocab_size_;
  std::optional<std::int32_t> eos_id_;
  std::size_t chunk_tokens_;
  hid_t file_ = H5I_INVALID_HID;
  hid_t tokens_ = H5I_INVALID_HID;  // created at the first flush, when the chunk size is known
  hid_t file_type_;                 // H5T_STD_U16LE or H5T_STD_U32LE
  std::uint64_t written_ = 0;       // tokens already in the dataset
  std::vector<std::int32_t> buffer_;
  std::vector<std::uint64_t> doc_offsets_;
  bool closed_ = false;
};

// Writes a series `<prefix>_000000.h5`, `<prefix>_000001.h5`, ... of shards of `shard_tokens` tokens
// each (the last one shorter); a document that reaches the limit continues in the next shard.
// A shard file is opened only when a token arrives, so an empty series writes no file.
class ShardSetWriter {
 public:
  ShardSetWriter(std::string prefix, std::uint64_t shard_tokens, std::int64_t vocab_size,
                 std::optional<std::int32_t> eos_id);
  void begin_document();
  void append(std::span<const std::int32_t> tokens);
  void close();  // closes the current shard; idempotent

  const std::vector<std::string>& paths() const { return paths_; }  // every shard started so far
  std::uint64_t num_tokens() const { return tokens_; }
  std::uint64_t num_documents() const { return documents_; }

 private:
  std::string prefix_;
  std::uint64_t shard_tokens_;
  std::int64_t vocab_size_;
  std::optional<std::int32_t> eos_id_;
  std::optional<ShardWriter> current_;
  bool document_pending_ = false;  // begin_document() seen, its first token not yet written
  std::vector<std::string> paths_;
  std::uint64_t tokens_ = 0, documents_ = 0;
};

}  // namespace strata
