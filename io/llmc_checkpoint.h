// llmc_checkpoint.h — llm.c's fp32 GPT-2 model file (karpathy/llm.c: train_gpt2.py `write_model`,
// train_gpt2.c `gpt2_build_from_checkpoint`, e.g. gpt2_124M.bin), to and from the canonical tensors of
// io/gpt2_tensors.h.
//
// Layout, all little-endian:
//   header   256 x int32: [0] magic 20240326, [1] version 3 (fp32, padded vocabulary), [2] max_seq_len T,
//            [3] vocab_size V, [4] num_layers L, [5] num_heads NH, [6] channels C, [7] padded_vocab_size
//            Vp (llm.c: V rounded up to a multiple of 128), the rest 0;
//   params   fp32, in this order (fill_in_parameter_sizes):
//            wte (Vp,C), wpe (T,C), ln1w (L,C), ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C), attprojw (L,C,C),
//            attprojb (L,C), ln2w (L,C), ln2b (L,C), fcw (L,4C,C), fcb (L,4C), fcprojw (L,C,4C),
//            fcprojb (L,C), lnfw (C), lnfb (C)
// so the file is exactly 1024 + 4 * (parameters) bytes. The per-layer tensors are the canonical ones
// stacked over layers, same (out, in) orientation (llm.c uses nn.Linear). wte's rows V..Vp are written
// as zeros and ignored on reading (llm.c never uses their logits). Version 5 (bf16) is not read.
#pragma once

#include <cstdint>
#include <string>

#include "io/hf_gpt2.h"

namespace strata {

inline constexpr std::int32_t llmc_model_magic = 20240326;
inline constexpr std::int32_t llmc_model_version_fp32 = 3;

// llm.c's padded vocabulary: V rounded up to a multiple of 128.
std::int64_t llmc_padded_vocab(std::int64_t vocab_size);

void write_llmc_checkpoint(const std::string& path, const Gpt2Weights& weights);
// Error (data) naming the file for a wrong magic or version, bad dimensions, or a size that is not
// exactly header + parameters (truncated or trailing bytes).
Gpt2Weights read_llmc_checkpoint(const std::string& path);

}  // namespace strata
