// text_documents.h — text corpora: input paths -> files -> documents -> train/valid token shards.
//
// Documents are split out of each file by one rule (documents never span files):
//   delimiter  a line whose whole content (without its "\n" or "\r\n") equals the delimiter, e.g. "%"
//              in fortune files (/usr/share/games/fortunes); delimiter lines are not part of documents
//   blank      one or more blank (whitespace-only) lines
//   file       the whole file is one document
// A document is the exact bytes of its lines, newlines included. Whitespace-only documents are dropped.
//
// Builds run on one process or on the ranks of an MPI communicator (MPI_COMM_NULL: one process, no MPI
// call). With N ranks every rank reads all the input; in blocks of about 16 MiB of text (block_bytes),
// document i of a block is tokenized by rank i % N, the token counts and tokens are gathered on rank 0,
// and rank 0 writes them in document order: the shards are the same, byte for byte, whatever N.
// Failures are collective: every rank throws the same Error (the first failing rank's), none hangs.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "io/bpe_trainer.h"

namespace strata {

class Tokenizer;

enum class SplitRule { delimiter, blank, file };

struct DocumentSplit {
  SplitRule rule = SplitRule::delimiter;
  std::string delimiter = "%";  // the delimiter rule's line
};

// "delimiter", "blank" or "file"; Error (config) otherwise.
SplitRule parse_split_rule(std::string_view name);

// Expands text inputs into files, deterministically: a file is taken as is; a directory gives every
// regular file below it (recursively, sorted); anything else is a glob pattern (sorted matches, each
// taken like an input). Directory and glob expansion skip `*.dat` files (fortune's index files).
// A file reached twice (e.g. fortune's `X.u8 -> X` symlinks) is kept once, at its first position.
// Error (data) for an input that matches nothing, or when no file results.
std::vector<std::string> expand_text_inputs(const std::vector<std::string>& inputs);

// The documents of `text` under `split`.
std::vector<std::string> split_documents(std::string_view text, const DocumentSplit& split);

// Calls `fn` with each document of each file, in order, reading files line by line (the `file` rule
// holds one whole file in memory). Error (data) naming a file that cannot be read.
void for_each_document(const std::vector<std::string>& files, const DocumentSplit& split,
                       const std::function<void(std::string_view document)>& fn);

// Whether `document` belongs to the validation split: a seeded 64-bit hash of its bytes, read as a
// number in [0, 1), is below `valid_fraction`. Depends on the content only, so identical documents
// land in the same split and never leak from train into valid.
bool is_validation_document(std::string_view document, double valid_fraction, std::uint64_t seed);

struct BuildOptions {
  std::vector<std::string> inputs;  // files, directories, globs (expand_text_inputs)
  DocumentSplit split;
  double valid_fraction = 0.05;              // in [0, 1)
  std::uint64_t shard_tokens = 100'000'000;  // tokens per shard file
  std::uint64_t seed = 1234;                 // of the train/valid assignment
  std::string out_dir;
  bool overwrite = false;  // replace train_*.h5 / valid_*.h5 already in out_dir (else Error config)
  // A progress line on stderr (input read, documents, MB/s) at most every 2 s, from rank 0, when the
  // input files exceed 64 MiB or stderr is a terminal. Small inputs finish before the first line.
  bool progress = true;
  // Text read per round of tokenizing: rank 0 holds one round's tokens (of every rank) at a time.
  std::uint64_t block_bytes = std::uint64_t{16} << 20;
};

struct SplitSummary {
  std::uint64_t documents = 0;
  std::uint64_t tokens = 0;  // eos included
  std::vector<std::string> shards;
};

struct BuildSummary {
  std::uint64_t files = 0;
  SplitSummary train, valid;
};

// Tokenizes every document of the inputs, appends eos after each, and writes
// `<out_dir>/train_NNNNNN.h5` and `<out_dir>/valid_NNNNNN.h5`. With valid_fraction > 0 and at least
// 2 documents both splits are non-empty (the last document is moved to the empty split if needed).
// Errors: bad options (config), missing inputs or no documents (data), write failures (internal).
// Collective over `comm` (see the top of this file); every rank gets the same summary.
BuildSummary build_text_shards(const BuildOptions& options, const Tokenizer& tokenizer,
                               MPI_Comm comm = MPI_COMM_NULL);

// The option checks of build_text_shards, then out_dir created and holding no shards: refused when it
// has some, unless options.overwrite, which deletes them (rank 0 does). build_text_shards does this
// itself; call it first to fail early before a long step such as BPE training. Collective.
void prepare_build_output(const BuildOptions& options, MPI_Comm comm = MPI_COMM_NULL);

// Trains a byte-level BPE vocabulary (io/bpe_trainer.h) on every document of the build's inputs
// (both splits) and writes `<out_dir>/vocab.json` and `<out_dir>/merges.txt`. Each rank counts the
// words of documents i % N == rank, rank 0 sums the counts, trains and writes, and every rank returns
// the vocabulary. Collective; errors as build_text_shards.
BpeVocab train_bpe_for_build(const BuildOptions& options, const BpeTrainOptions& train, MPI_Comm comm = MPI_COMM_NULL);

// Runs `step` on every rank of `comm` and makes its failure collective: when it throws on some rank,
// every rank throws an Error of the first failing rank's kind and message (that rank rethrows its own).
// With MPI_COMM_NULL it just runs `step`.
void run_collectively(MPI_Comm comm, const std::function<void()>& step);

}  // namespace strata
