// import_source.h — the common part of `strata-data import`: a TokenSource streams one input file's
// tokens in bounded chunks together with the positions where documents begin; helpers shared by the
// formats (exact binary reads, little-endian token decoding with the vocabulary check); and the driver
// that turns a list of inputs into a Strata shard set.
//
// Rules every source follows:
//   * memory is bounded by the chunk size, never by the input's size (multi-GB files stream);
//   * every token is checked while decoding: 0 <= token < vocab_size, else Error (data) naming the
//     file, the token's index in that file and its byte offset;
//   * headers and sizes are validated when the source is constructed, before any token is read, so a
//     malformed input is reported before anything is written; Error (data) names the file, what was
//     expected and what was found.
// The formats: io/import_llmc.h (llm.c .bin), io/import_megatron.h (Megatron-LM MMIDIDX .bin/.idx),
// io/import_raw.h (raw little-endian arrays and NumPy .npy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace strata {

// Integer token types found in the input formats; all stored little-endian.
enum class TokenType { u8, i8, u16, i16, u32, i32, u64, i64 };

std::size_t token_type_bytes(TokenType type);
const char* token_type_name(TokenType type);  // "uint16", "int32", ...

// The next at most `max_tokens` tokens of an input. A document begins at each index in `doc_starts`
// (strictly increasing, each < tokens.size()); a document may continue from the previous chunk or the
// previous input file.
struct TokenChunk {
  std::vector<std::int32_t> tokens;
  std::vector<std::size_t> doc_starts;
  void clear() {
    tokens.clear();
    doc_starts.clear();
  }
};

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Clears `chunk` and fills it with the next 1..max_tokens tokens; false (chunk empty) at the end.
  virtual bool next(TokenChunk& chunk, std::size_t max_tokens) = 0;
  virtual const std::string& path() const = 0;
  virtual std::string description() const = 0;  // the format as read, e.g. "llm.c gpt-2 (uint16)"
};

// A binary input file read with exact-size reads. Error (data) naming the file when it cannot be opened,
// is not a regular file, or ends before a requested range.
class BinaryInput {
 public:
  explicit BinaryInput(std::string path);
  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // Reads exactly `n` bytes at byte `offset` into `dst`; `what` names the part read in messages.
  void read(std::uint64_t offset, std::size_t n, void* dst, std::string_view what = "data");

 private:
  std::string path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;  // where the stream stands; reads in sequence need no seek
};

// Little-endian integers of any host.
template <typename T>
T load_le(const unsigned char* p) {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
  return static_cast<T>(v);
}

// Where a decoded run of tokens lies in its input, for messages.
struct TokenPlace {
  const std::string& path;
  std::uint64_t first_index;  // index of the run's first token among the input's tokens
  std::uint64_t first_byte;   // byte offset of the run's first token in the file
};

// Decodes bytes.size() / token_type_bytes(type) little-endian tokens, appending them to `out`.
// Error (data) for the first token outside [0, vocab_size), naming the file, the token's index and
// byte offset, its value and vocab_size.
void decode_tokens(std::span<const unsigned char> bytes, TokenType type, std::int64_t vocab_size,
                   const TokenPlace& place, std::vector<std::int32_t>& out);

// ---- the import driver ----

enum class ImportFormat { llmc, megatron, raw, npy };

ImportFormat parse_import_format(std::string_view name);  // Error (config) for an unknown name
const char* import_format_name(ImportFormat format);

struct ImportOptions {
  ImportFormat format = ImportFormat::llmc;
  std::optional<TokenType> raw_dtype;     // --dtype: raw only, and required there (uint16 or uint32)
  std::optional<std::int64_t> vocab_size;  // required except for llmc (default from the first file)
  std::optional<std::int32_t> eos_id;      // llmc gpt-2 files default to 50256
  std::uint64_t shard_tokens = 100'000'000;
  std::string out_dir;
  std::string name = "train";  // shards are <out_dir>/<name>_NNNNNN.h5
  bool overwrite = false;      // replace <name>_*.h5 already in out_dir (else Error config)
  std::vector<std::string> inputs;
  std::size_t chunk_tokens = std::size_t{1} << 20;  // tokens read per step: bounds the memory used
};

struct ImportSummary {
  std::uint64_t files = 0;
  std::uint64_t tokens = 0;
  std::uint64_t documents = 0;
  std::int64_t vocab_size = 0;
  std::optional<std::int32_t> eos_id;
  std::string description;  // the first input's format as read
  std::vector<std::string> shards;
};

// Opens one input of `format` (a Megatron input is PREFIX, PREFIX.bin or PREFIX.idx), validating its
// header and sizes. `vocab_size` bounds its tokens; `eos_id` ends documents of raw/npy inputs.
std::unique_ptr<TokenSource> open_token_source(const ImportOptions& options, const std::string& input,
                                               std::int64_t vocab_size, std::optional<std::int32_t> eos_id);

// Imports every input, in order, as one token stream into <out_dir>/<name>_NNNNNN.h5 shards of
// `shard_tokens` tokens. Every input's header is validated before anything is written. Shards are
// written into <out_dir>/.<name>.partial/ and moved into <out_dir> only when every input has been read
// completely, so a failed import leaves no shard set behind (and an older set untouched).
// Errors: bad options or existing shards without `overwrite` (config), bad or empty input (data),
// write failures (internal).
ImportSummary import_token_shards(const ImportOptions& options);

}  // namespace strata
