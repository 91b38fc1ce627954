// import_megatron.cpp — reading Megatron-LM MMIDIDX indexed datasets (see import_megatron.h).
#include "io/import_megatron.h"

#include <algorithm>
#include <cstring>

#include "kernels/error.h"

namespace strata {

namespace {

constexpr unsigned char idx_magic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
constexpr std::size_t index_batch = 65536;  // index elements read at a time

MegatronIndexHeader read_index_header_file(const std::string& path) {
  BinaryInput idx(path);
  return read_megatron_index_header(idx);
}

}  // namespace

MegatronPaths megatron_paths(const std::string& input) {
  std::string prefix = input;
  if (prefix.ends_with(".bin") || prefix.ends_with(".idx")) prefix.resize(prefix.size() - 4);
  return {prefix + ".bin", prefix + ".idx"};
}

MegatronIndexHeader read_megatron_index_header(BinaryInput& idx) {
  const std::string& path = idx.path();
  STRATA_CHECK(idx.size() >= megatron_idx_header_bytes, data, path, ": not a Megatron-LM index: expected at least ",
               megatron_idx_header_bytes, " bytes (the MMIDIDX header), found ", idx.size(), " bytes");
  unsigned char raw[megatron_idx_header_bytes];
  idx.read(0, sizeof(raw), raw, "MMIDIDX header");
  STRATA_CHECK(std::memcmp(raw, idx_magic, sizeof(idx_magic)) == 0, data, path,
               ": not a Megatron-LM index: expected the magic \"MMIDIDX\\x00\\x00\" at byte 0, found other bytes");
  const auto version = load_le<std::uint64_t>(raw + 9);
  STRATA_CHECK(version == 1, data, path, ": unsupported Megatron-LM index version ", version,
               " at byte 9; expected 1");
  MegatronIndexHeader h;
  h.dtype_code = raw[17];
  switch (h.dtype_code) {
    case 1: h.type = TokenType::u8; break;
    case 2: h.type = TokenType::i8; break;
    case 3: h.type = TokenType::i16; break;
    case 4: h.type = TokenType::i32; break;
    case 5: h.type = TokenType::i64; break;
    case 8: h.type = TokenType::u16; break;
    case 6:
    case 7:
      STRATA_THROW(data, path, ": Megatron-LM dataset of ", h.dtype_code == 6 ? "float64" : "float32",
                   " values (dtype code ", h.dtype_code, " at byte 17); expected integer token ids (codes 1-5, 8)");
    default:
      STRATA_THROW(data, path, ": unknown Megatron-LM dtype code ", h.dtype_code,
                   " at byte 17; expected 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64 or 8 uint16");
  }
  h.num_sequences = load_le<std::uint64_t>(raw + 18);
  h.num_doc_indices = load_le<std::uint64_t>(raw + 26);
  const std::uint64_t S = h.num_sequences, D = h.num_doc_indices;
  const std::uint64_t rest = idx.size() - megatron_idx_header_bytes;
  // Bounded first, so that the sizes below cannot overflow.
  STRATA_CHECK(S <= rest / 12 && D <= rest / 8, data, path, ": Megatron-LM index of ", S, " sequences and ", D,
               " document indices (bytes 18-33) needs 34 + 12 * ", S, " + 8 * ", D, " bytes, found ", idx.size(),
               " bytes (truncated)");
  const std::uint64_t expected = megatron_idx_header_bytes + 12 * S + 8 * D;
  h.multimodal = idx.size() == expected + S && S > 0;
  STRATA_CHECK(idx.size() == expected || h.multimodal, data, path, ": Megatron-LM index of ", S, " sequences and ",
               D, " document indices should be 34 + 12 * ", S, " + 8 * ", D, " = ", expected, " bytes (or ",
               expected + S, " with multimodal sequence modes), found ", idx.size(), " bytes (",
               idx.size() < expected ? "truncated" : "trailing data", ")");
  STRATA_CHECK(D >= 1, data, path, ": Megatron-LM index has 0 document indices; expected at least 1 (the leading 0)");
  return h;
}

MegatronSource::IndexArray::IndexArray(const std::string& path, std::uint64_t offset, std::uint64_t count,
                                       std::size_t width, const char* what)
    : in_(path), offset_(offset), count_(count), width_(width), what_(what) {}

std::int64_t MegatronSource::IndexArray::next() {
  STRATA_CHECK(done_ < count_, internal, in_.path(), ": read past the end of the ", what_);
  if (batch_pos_ == batch_len_) {
    batch_len_ = static_cast<std::size_t>(std::min<std::uint64_t>(index_batch, count_ - done_));
    batch_.resize(batch_len_ * width_);
    in_.read(offset_ + done_ * width_, batch_.size(), batch_.data(), what_);
    batch_pos_ = 0;
  }
  const unsigned char* p = batch_.data() + batch_pos_++ * width_;
  ++done_;
  return width_ == 4 ? load_le<std::int32_t>(p) : load_le<std::int64_t>(p);
}

MegatronSource::MegatronSource(const std::string& input, std::int64_t vocab_size)
    : bin_(megatron_paths(input).bin),
      idx_path_(megatron_paths(input).idx),
      header_(read_index_header_file(idx_path_)),
      vocab_size_(vocab_size),
      lengths_(idx_path_, megatron_idx_header_bytes, header_.num_sequences, 4, "sequence lengths"),
      pointers_(idx_path_, megatron_idx_header_bytes + 4 * header_.num_sequences, header_.num_sequences, 8,
                "sequence pointers"),
      doc_indices_(idx_path_, megatron_idx_header_bytes + 12 * header_.num_sequences, header_.num_doc_indices, 8,
                   "document indices") {
  next_doc_index_ = doc_indices_.next();
  STRATA_CHECK(next_doc_index_ == 0, data, idx_path_, ": document index 0 is ", next_doc_index_,
               "; expected 0 (the first document starts at sequence 0)");
  STRATA_CHECK(header_.num_doc_indices > 1 || header_.num_sequences == 0, data, idx_path_,
               ": the last document index is 0; expected the number of sequences, ", header_.num_sequences);
}

std::string MegatronSource::description() const {
  return "Megatron-LM indexed dataset (" + std::string(token_type_name(header_.type)) + ", " +
         std::to_string(header_.num_sequences) + " sequences, " + std::to_string(header_.num_doc_indices - 1) +
         " documents" + (header_.multimodal ? ", multimodal" : "") + ")";
}

void MegatronSource::read_doc_index() {
  const std::uint64_t S = header_.num_sequences;
  const std::uint64_t entry = doc_indices_.position();
  const std::int64_t v = doc_indices_.next();
  STRATA_CHECK(v >= next_doc_index_ && v <= static_cast<std::int64_t>(S), data, idx_path_, ": document index ",
               entry, " is ", v, "; expected a value in [", next_doc_index_, ", ", S,
               "] (document indices are non-decreasing sequence numbers)");
  STRATA_CHECK(entry + 1 < header_.num_doc_indices || v == static_cast<std::int64_t>(S), data, idx_path_,
               ": the last document index (", entry, ") is ", v, "; expected the number of sequences, ", S);
  next_doc_index_ = v;
}

bool MegatronSource::start_sequence() {
  const std::uint64_t S = header_.num_sequences, D = header_.num_doc_indices;
  if (seq_ == S) {
    // What remains are the ends of trailing empty documents: read them, so that each is checked.
    while (doc_indices_.position() < D) read_doc_index();
    finished_ = true;
    return false;
  }
  // The documents beginning at this sequence (several when some are empty).
  while (next_doc_index_ == static_cast<std::int64_t>(seq_)) {
    doc_pending_ = true;
    if (doc_indices_.position() == D) break;
    read_doc_index();
  }
  const std::int64_t length = lengths_.next();
  const std::int64_t pointer = pointers_.next();
  const std::uint64_t width = token_type_bytes(header_.type);
  STRATA_CHECK(length >= 0, data, idx_path_, ": sequence ", seq_, " has length ", length, "; expected >= 0");
  const auto len = static_cast<std::uint64_t>(length);
  STRATA_CHECK(pointer >= 0 && static_cast<std::uint64_t>(pointer) <= bin_.size() &&
                   len <= (bin_.size() - static_cast<std::uint64_t>(pointer)) / width,
               data, idx_path_, ": sequence ", seq_, " (", len, " tokens of ", width, " bytes at pointer ", pointer,
               ") lies outside ", bin_.path(), " of ", bin_.size(), " bytes; expected pointer + length * ", width,
               " <= ", bin_.size());
  seq_pointer_ = static_cast<std::uint64_t>(pointer);
  seq_left_ = len;
  ++seq_;
  return true;
}

bool MegatronSource::next(TokenChunk& chunk, std::size_t max_tokens) {
  chunk.clear();
  const std::size_t width = token_type_bytes(header_.type);
  while (chunk.tokens.size() < max_tokens) {
    if (seq_left_ == 0) {
      if (finished_ || !start_sequence()) break;
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(seq_left_, max_tokens - chunk.tokens.size()));
    bytes_.resize(n * width);
    bin_.read(seq_pointer_, bytes_.size(), bytes_.data(), "tokens");
    if (doc_pending_) chunk.doc_starts.push_back(chunk.tokens.size());
    doc_pending_ = false;
    decode_tokens(bytes_, header_.type, vocab_size_, TokenPlace{bin_.path(), tokens_done_, seq_pointer_}, chunk.tokens);
    seq_pointer_ += n * width;
    seq_left_ -= n;
    tokens_done_ += n;
  }
  return !chunk.tokens.empty();
}

}  // namespace strata
