// data_build_cmd.cpp — `strata-data build`: text files into train/valid token shards, with the byte
// tokenizer or a byte-level BPE (loaded from vocab.json + merges.txt, or trained on the input). Runs on
// one process or under mpirun (every rank runs this; rank 0 prints).
#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <utility>

#include "io/bpe_tokenizer.h"
#include "io/bpe_trainer.h"
#include "io/byte_tokenizer.h"
#include "io/text_documents.h"
#include "kernels/error.h"
#include "src/data_commands.h"

namespace po = boost::program_options;

namespace strata {
namespace {

std::string shard_list(const std::vector<std::string>& shards) {
  if (shards.empty()) return "";
  if (shards.size() == 1) return ": " + shards.front();
  return ": " + shards.front() + (shards.size() > 2 ? " ... " : " ") + shards.back();
}

}  // namespace

int data_build(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: strata-data build [options] --out DIR INPUT...\n"
      "       mpirun -np N strata-data build [options] --out DIR INPUT...\n"
      "Splits the INPUT files (files, directories searched recursively, or globs) into documents,\n"
      "tokenizes them with an end-of-document token after each, assigns each document to the train or\n"
      "valid split by a seeded hash of its text, and writes DIR/train_NNNNNN.h5 and DIR/valid_NNNNNN.h5.\n"
      "Tokenizers: byte (ids 0-255 are bytes, 256 ends a document); bpe, GPT-2 byte-level BPE, either\n"
      "loaded (--vocab vocab.json --merges merges.txt, GPT-2 / Hugging Face files) or trained on the\n"
      "input (--vocab-size N, written to DIR/vocab.json and DIR/merges.txt). Under mpirun the ranks\n"
      "share the tokenizing and the shards are the same as with one process.\n";
  BuildOptions opt;
  std::string tokenizer_name, split_name, vocab_path, merges_path;
  std::int64_t shard_tokens = 0, vocab_size = 0;
  po::options_description options("options");
  options.add_options()
      ("tokenizer", po::value(&tokenizer_name)->default_value("byte"), "tokenizer: byte or bpe")
      ("vocab", po::value(&vocab_path), "bpe: the vocab.json to load (with --merges)")
      ("merges", po::value(&merges_path), "bpe: the merges.txt to load (with --vocab)")
      ("vocab-size", po::value(&vocab_size),
       "bpe: train a vocabulary of this many tokens (>= 257, <|endoftext|> included) on the input")
      ("split", po::value(&split_name)->default_value("delimiter"), "document split rule: delimiter, blank or file")
      ("delimiter", po::value(&opt.split.delimiter)->default_value("%"), "delimiter line for --split delimiter")
      ("valid-fraction", po::value(&opt.valid_fraction)->default_value(0.05),
       "fraction of documents for validation, in [0, 1)")
      ("shard-tokens", po::value(&shard_tokens)->default_value(100'000'000), "tokens per shard file")
      ("seed", po::value(&opt.seed)->default_value(1234), "seed of the train/valid assignment")
      ("out", po::value(&opt.out_dir)->required(), "output directory (created if missing)")
      ("overwrite", po::bool_switch(&opt.overwrite), "replace shards already in the output directory")
      ("block-bytes", po::value(&opt.block_bytes)->default_value(opt.block_bytes),
       "tuning: bytes of text tokenized per round (rank 0 holds one round's tokens)");
  po::variables_map vm;
  if (!parse_data_command("build", args, usage, options, "inputs", vm)) return 0;
  STRATA_CHECK(shard_tokens > 0, config, "--shard-tokens is ", shard_tokens, "; expected a positive integer");
  opt.shard_tokens = static_cast<std::uint64_t>(shard_tokens);
  opt.split.rule = parse_split_rule(split_name);
  opt.inputs = vm["inputs"].as<std::vector<std::string>>();
  const bool train = vm.count("vocab-size") > 0;
  STRATA_CHECK(!train || tokenizer_name == "bpe", config, "--vocab-size trains a BPE vocabulary; it needs --tokenizer bpe");
  STRATA_CHECK(!train || (vocab_path.empty() && merges_path.empty()), config,
               "--vocab-size trains a new BPE vocabulary; give either it or --vocab and --merges, not both");
  STRATA_CHECK(!train || (vocab_size >= 257 && vocab_size <= (std::int64_t{1} << 24)), config, "--vocab-size is ",
               vocab_size, "; expected an integer in [257, 16777216] (256 byte tokens + <|endoftext|> at least)");

  // Under mpirun (main initialised MPI) every rank of the job takes part.
  int mpi = 0;
  MPI_Initialized(&mpi);
  const MPI_Comm comm = mpi ? MPI_COMM_WORLD : MPI_COMM_NULL;
  int rank = 0;
  if (mpi) MPI_Comm_rank(comm, &rank);

  std::unique_ptr<Tokenizer> tokenizer;
  if (train) {
    prepare_build_output(opt, comm);  // refuse an occupied --out before training, not after
    BpeTrainOptions train_options;
    train_options.vocab_size = vocab_size;
    BpeVocab vocab = train_bpe_for_build(opt, train_options, comm);
    const std::string where = (std::filesystem::path(opt.out_dir) / "vocab.json").string();
    run_collectively(comm, [&] { tokenizer = std::make_unique<BpeTokenizer>(std::move(vocab), where); });
    if (rank == 0) {
      const auto& bpe = static_cast<const BpeTokenizer&>(*tokenizer);
      std::cout << "strata-data build: trained BPE: " << bpe.vocab().merges.size() << " merges, vocab_size "
                << bpe.vocab_size() << (bpe.vocab_size() < vocab_size ? " (the input has no more frequent pairs)" : "")
                << ", written to " << where << " and merges.txt\n";
    }
  } else {
    run_collectively(comm, [&] { tokenizer = make_tokenizer(tokenizer_name, vocab_path, merges_path); });
  }

  const BuildSummary s = build_text_shards(opt, *tokenizer, comm);
  if (rank != 0) return 0;
  std::cout << "strata-data build: " << s.files << " input file(s), " << s.train.documents + s.valid.documents
            << " documents, tokenizer " << tokenizer->name() << " (vocab_size " << tokenizer->vocab_size()
            << ", eos_id " << tokenizer->eos_id() << ")\n";
  for (const auto& [name, split] : {std::pair{"train", &s.train}, std::pair{"valid", &s.valid}}) {
    std::cout << "  " << name << ": " << split->documents << " documents, " << split->tokens << " tokens, "
              << split->shards.size() << " shard(s)" << shard_list(split->shards) << "\n";
  }
  return 0;
}

}  // namespace strata
