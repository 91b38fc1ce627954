// import_source.cpp — binary reads, token decoding and the import driver (see import_source.h).
#include "io/import_source.h"

#include <filesystem>
#include <limits>
#include <system_error>

#include "io/import_llmc.h"
#include "io/import_megatron.h"
#include "io/import_raw.h"
#include "io/shard.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace strata {

std::size_t token_type_bytes(TokenType type) {
  switch (type) {
    case TokenType::u8:
    case TokenType::i8: return 1;
    case TokenType::u16:
    case TokenType::i16: return 2;
    case TokenType::u32:
    case TokenType::i32: return 4;
    case TokenType::u64:
    case TokenType::i64: return 8;
  }
  return 0;
}

const char* token_type_name(TokenType type) {
  switch (type) {
    case TokenType::u8: return "uint8";
    case TokenType::i8: return "int8";
    case TokenType::u16: return "uint16";
    case TokenType::i16: return "int16";
    case TokenType::u32: return "uint32";
    case TokenType::i32: return "int32";
    case TokenType::u64: return "uint64";
    case TokenType::i64: return "int64";
  }
  return "?";
}

BinaryInput::BinaryInput(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  const auto status = fs::status(path_, ec);
  STRATA_CHECK(fs::exists(status), data, path_, ": input not found");
  STRATA_CHECK(fs::is_regular_file(status), data, path_, ": not a regular file");
  size_ = fs::file_size(path_, ec);
  STRATA_CHECK(!ec, data, path_, ": cannot read the file size: ", ec.message());
  in_.open(path_, std::ios::binary);
  STRATA_CHECK(in_.is_open(), data, path_, ": cannot open for reading (permissions?)");
}

void BinaryInput::read(std::uint64_t offset, std::size_t n, void* dst, std::string_view what) {
  STRATA_CHECK(offset <= size_ && n <= size_ - offset, data, path_, ": expected ", n, " bytes of ", what,
               " at byte offset ", offset, ", but the file has only ", size_, " bytes (truncated?)");
  if (n == 0) return;
  if (pos_ != offset || !in_.good()) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
  }
  in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  const auto got = static_cast<std::size_t>(in_.gcount());
  pos_ = offset + got;
  STRATA_CHECK(got == n, data, path_, ": read ", got, " of ", n, " bytes of ", what, " at byte offset ", offset,
               " (I/O error, or the file shrank while being read)");
}

namespace {

template <typename T>
void decode_as(std::span<const unsigned char> bytes, std::int64_t vocab_size, const TokenPlace& place,
               std::vector<std::int32_t>& out) {
  const std::size_t n = bytes.size() / sizeof(T);
  const std::size_t base = out.size();
  out.resize(base + n);
  std::int32_t* dst = out.data() + base;
  for (std::size_t i = 0; i < n; ++i) {
    const T v = load_le<T>(bytes.data() + i * sizeof(T));
    bool bad;
    if constexpr (std::is_signed_v<T>) {
      bad = v < 0 || static_cast<std::int64_t>(v) >= vocab_size;
    } else {
      bad = static_cast<std::uint64_t>(v) >= static_cast<std::uint64_t>(vocab_size);
    }
    if (bad) [[unlikely]] {
      out.resize(base + i);
      STRATA_THROW(data, place.path, ": token ", place.first_index + i, " (byte offset ",
                   place.first_byte + i * sizeof(T), ") is ", +v, "; expected a token id in [0, ", vocab_size,
                   ") (vocab_size ", vocab_size, ", set by --vocab-size)");
    }
    dst[i] = static_cast<std::int32_t>(v);
  }
}

}  // namespace

void decode_tokens(std::span<const unsigned char> bytes, TokenType type, std::int64_t vocab_size,
                   const TokenPlace& place, std::vector<std::int32_t>& out) {
  switch (type) {
    case TokenType::u8: return decode_as<std::uint8_t>(bytes, vocab_size, place, out);
    case TokenType::i8: return decode_as<std::int8_t>(bytes, vocab_size, place, out);
    case TokenType::u16: return decode_as<std::uint16_t>(bytes, vocab_size, place, out);
    case TokenType::i16: return decode_as<std::int16_t>(bytes, vocab_size, place, out);
    case TokenType::u32: return decode_as<std::uint32_t>(bytes, vocab_size, place, out);
    case TokenType::i32: return decode_as<std::int32_t>(bytes, vocab_size, place, out);
    case TokenType::u64: return decode_as<std::uint64_t>(bytes, vocab_size, place, out);
    case TokenType::i64: return decode_as<std::int64_t>(bytes, vocab_size, place, out);
  }
}

ImportFormat parse_import_format(std::string_view name) {
  if (name == "llmc") return ImportFormat::llmc;
  if (name == "megatron") return ImportFormat::megatron;
  if (name == "raw") return ImportFormat::raw;
  if (name == "npy") return ImportFormat::npy;
  STRATA_THROW(config, "unknown import format '", name, "'; expected llmc, megatron, raw or npy");
}

const char* import_format_name(ImportFormat format) {
  switch (format) {
    case ImportFormat::llmc: return "llmc";
    case ImportFormat::megatron: return "megatron";
    case ImportFormat::raw: return "raw";
    case ImportFormat::npy: return "npy";
  }
  return "?";
}

std::unique_ptr<TokenSource> open_token_source(const ImportOptions& options, const std::string& input,
                                               std::int64_t vocab_size, std::optional<std::int32_t> eos_id) {
  switch (options.format) {
    case ImportFormat::llmc: return std::make_unique<LlmcSource>(input, vocab_size);
    case ImportFormat::megatron: return std::make_unique<MegatronSource>(input, vocab_size);
    case ImportFormat::raw:
      STRATA_CHECK(options.raw_dtype, config, "--dtype is required with --format raw (uint16 or uint32)");
      return std::make_unique<RawSource>(input, *options.raw_dtype, vocab_size, eos_id);
    case ImportFormat::npy: return std::make_unique<NpySource>(input, vocab_size, eos_id);
  }
  STRATA_THROW(internal, "unhandled import format");
}

namespace {

// The options checked and the defaults filled in: vocab_size and eos_id.
void resolve_vocabulary(const ImportOptions& o, std::int64_t& vocab, std::optional<std::int32_t>& eos) {
  const char* format = import_format_name(o.format);
  STRATA_CHECK(!o.inputs.empty(), config, "missing inputs; expected one or more input files");
  STRATA_CHECK(!o.out_dir.empty(), config, "--out is required");
  STRATA_CHECK(!o.name.empty() && o.name.find('/') == std::string::npos && o.name.front() != '.', config,
               "--name '", o.name, "' must be a plain file name prefix (no '/', not starting with '.')");
  STRATA_CHECK(o.shard_tokens > 0, config, "--shard-tokens must be positive");
  STRATA_CHECK(o.chunk_tokens > 0, internal, "import chunk size must be positive");
  STRATA_CHECK(o.format == ImportFormat::raw || !o.raw_dtype, config, "--dtype applies to --format raw only; ",
               format, " inputs name their token type themselves");
  STRATA_CHECK(o.format != ImportFormat::raw || o.raw_dtype, config,
               "--dtype is required with --format raw (uint16 or uint32)");
  std::optional<LlmcHeader> first_llmc;  // llm.c files name their tokenizer, hence the defaults
  if (o.format == ImportFormat::llmc) {
    BinaryInput first(o.inputs.front());
    first_llmc = read_llmc_header(first);
  }
  STRATA_CHECK(o.vocab_size || first_llmc, config, "--vocab-size is required with --format ", format);
  vocab = o.vocab_size ? *o.vocab_size : first_llmc->default_vocab_size;
  eos = o.eos_id;
  if (!eos && first_llmc && first_llmc->default_eos && *first_llmc->default_eos < vocab) eos = first_llmc->default_eos;
  STRATA_CHECK(vocab > 0 && vocab <= std::numeric_limits<std::int32_t>::max(), config, "--vocab-size is ", vocab,
               "; expected an integer in [1, 2^31 - 1]");
  STRATA_CHECK(!eos || (*eos >= 0 && *eos < vocab), config, "--eos-id is ", eos.value_or(0),
               "; expected an id in [0, vocab_size ", vocab, ")");
}

bool is_shard_of(const std::string& file_name, const std::string& name) {
  return file_name.starts_with(name + "_") && (file_name.ends_with(".h5") || file_name.ends_with(".h5.tmp"));
}

}  // namespace

ImportSummary import_token_shards(const ImportOptions& o) {
  ImportSummary summary;
  resolve_vocabulary(o, summary.vocab_size, summary.eos_id);

  // Every header first: a bad input is reported before anything is written.
  for (const std::string& input : o.inputs) {
    const auto source = open_token_source(o, input, summary.vocab_size, summary.eos_id);
    if (summary.description.empty()) summary.description = source->description();
  }

  const fs::path out(o.out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  STRATA_CHECK(!ec, internal, "cannot create output directory ", o.out_dir, ": ", ec.message());
  std::vector<fs::path> old_shards;
  for (const auto& entry : fs::directory_iterator(out, ec))
    if (is_shard_of(entry.path().filename().string(), o.name)) old_shards.push_back(entry.path());
  STRATA_CHECK(ec.value() == 0, internal, "cannot list output directory ", o.out_dir, ": ", ec.message());
  STRATA_CHECK(old_shards.empty() || o.overwrite, config, "output directory ", o.out_dir, " already holds ", o.name,
               "_* shards (", old_shards.empty() ? "" : old_shards.front().filename().string(),
               "); choose another --out or --name, or pass --overwrite to replace them");

  // Shards are staged in a hidden directory: neither DIR/*.h5 nor a glob DIR/<name>_*.h5 sees them.
  const fs::path partial = out / ("." + o.name + ".partial");
  fs::remove_all(partial, ec);  // left by an interrupted import
  fs::create_directories(partial, ec);
  STRATA_CHECK(!ec, internal, "cannot create ", partial.string(), ": ", ec.message());
  std::vector<std::string> staged;
  try {
    ShardSetWriter writer((partial / o.name).string(), o.shard_tokens, summary.vocab_size, summary.eos_id);
    TokenChunk chunk;
    for (const std::string& input : o.inputs) {
      const auto source = open_token_source(o, input, summary.vocab_size, summary.eos_id);
      while (source->next(chunk, o.chunk_tokens)) {
        const std::span<const std::int32_t> tokens(chunk.tokens);
        std::size_t begin = 0;
        for (const std::size_t start : chunk.doc_starts) {
          writer.append(tokens.subspan(begin, start - begin));
          writer.begin_document();
          begin = start;
        }
        writer.append(tokens.subspan(begin));
      }
      ++summary.files;
    }
    writer.close();
    std::string listed;
    for (const std::string& input : o.inputs) listed += (listed.empty() ? "" : " ") + input;
    STRATA_CHECK(writer.num_tokens() > 0, data, "no tokens in ", o.inputs.size(), " ", import_format_name(o.format),
                 " input(s) (", listed, "); expected at least one token");
    summary.tokens = writer.num_tokens();
    summary.documents = writer.num_documents();
    staged = writer.paths();
  } catch (...) {
    fs::remove_all(partial, ec);
    throw;
  }

  // Complete: replace the old set (if any) by the new one.
  for (const fs::path& p : old_shards) fs::remove(p, ec);
  for (const std::string& file : staged) {
    const fs::path target = out / fs::path(file).filename();
    fs::rename(file, target, ec);
    STRATA_CHECK(!ec, internal, "cannot move ", file, " to ", target.string(), ": ", ec.message());
    summary.shards.push_back(target.string());
  }
  fs::remove_all(partial, ec);
  return summary;
}

}  // namespace strata
