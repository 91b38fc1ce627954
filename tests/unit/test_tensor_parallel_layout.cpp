// test_tensor_parallel_layout.cpp — ParamLayout's tensor-parallel slices (src/param_layout.h): for
// T = 1, 2, 4 every tensor's local elements on the T ranks map (full_index) one to one onto the full
// tensor, local shapes are the Megatron ones, and initializing each rank's slice then scattering it
// with full_index reproduces the single-rank initialization bit for bit (padded vocabulary rows 0).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/param_init.h"
#include "src/param_layout.h"

namespace strata {
namespace {

GptShape tp_shape(int tensor) {
  GptShape s;
  s.layers = 2;
  s.hidden = 32;
  s.heads = 4;
  s.seq_len = 16;
  s.vocab_size = 61;  // with T = 4: 4 slices of 128 rows, three of them padding only
  s.tensor = tensor;
  return s;
}

ParamLayout tp_layout(const GptShape& s, int rank, int size) {
  ModelPartition part;
  part.tensor_rank = rank;
  part.tensor_size = size;
  return ParamLayout(s, part);
}

class TensorParallelLayout : public ::testing::TestWithParam<int> {};

TEST_P(TensorParallelLayout, SliceIndexMappingIsABijectionOntoTheFullTensor) {
  const int tp = GetParam();
  const GptShape s = tp_shape(tp);
  const ParamLayout full = tp_layout(s, 0, 1);
  std::vector<ParamLayout> ranks;
  for (int r = 0; r < tp; ++r) ranks.push_back(tp_layout(s, r, tp));
  for (std::size_t k = 0; k < full.tensors().size(); ++k) {
    const ParamTensor& f = full.tensors()[k];
    std::vector<int> hits(f.count, 0);
    for (int r = 0; r < tp; ++r) {
      const ParamTensor& t = ranks[r].tensors()[k];
      ASSERT_EQ(t.kind, f.kind);
      ASSERT_EQ(t.full_shape, f.shape) << t.name();
      const bool split = t.split != ParamTensor::Split::none;
      ASSERT_EQ(t.count * (split ? tp : 1), f.count) << t.name();
      for (std::size_t i = 0; i < t.count; ++i) {
        const std::size_t j = ranks[r].full_index(t, i);
        ASSERT_LT(j, f.count) << t.name() << " rank " << r << " element " << i;
        hits[j] += 1;
      }
    }
    const int expected = (tp > 1 && ranks[0].tensors()[k].split == ParamTensor::Split::none) ? tp : 1;
    for (std::size_t j = 0; j < f.count; ++j) ASSERT_EQ(hits[j], expected) << f.name() << " full element " << j;
  }
}

TEST_P(TensorParallelLayout, LocalShapesAreMegatrons) {
  const int tp = GetParam();
  const GptShape s = tp_shape(tp);
  const int64_t c = s.hidden;
  const ParamLayout l = tp_layout(s, tp - 1, tp);
  EXPECT_EQ(l.get(ParamKind::wte).shape, (std::vector<int64_t>{s.padded_vocab() / tp, c}));
  EXPECT_EQ(l.get(ParamKind::qkv_w, 1).shape, (std::vector<int64_t>{3 * c / tp, c}));
  EXPECT_EQ(l.get(ParamKind::qkv_b, 1).shape, (std::vector<int64_t>{3 * c / tp}));
  EXPECT_EQ(l.get(ParamKind::attn_proj_w, 1).shape, (std::vector<int64_t>{c, c / tp}));
  EXPECT_EQ(l.get(ParamKind::attn_proj_b, 1).shape, (std::vector<int64_t>{c}));
  EXPECT_EQ(l.get(ParamKind::fc_w, 0).shape, (std::vector<int64_t>{4 * c / tp, c}));
  EXPECT_EQ(l.get(ParamKind::fc_proj_w, 0).shape, (std::vector<int64_t>{c, 4 * c / tp}));
  EXPECT_EQ(l.get(ParamKind::lnf_w).shape, (std::vector<int64_t>{c}));
  EXPECT_EQ(l.vocab_slice(), s.padded_vocab() / tp);
  EXPECT_EQ(l.vocab_start(), (tp - 1) * s.padded_vocab() / tp);
  // q rows of the last rank's first head start at row (tp-1)*C/T; its k rows at C + (tp-1)*C/T.
  const ParamTensor& qkv = l.get(ParamKind::qkv_w, 1);
  EXPECT_EQ(l.full_index(qkv, 0), static_cast<std::size_t>((tp - 1) * c / tp * c));
  EXPECT_EQ(l.full_index(qkv, static_cast<std::size_t>(c / tp * c)), static_cast<std::size_t>((c + (tp - 1) * c / tp) * c));
}

TEST_P(TensorParallelLayout, ConcatenatedSlicesEqualTheSingleRankInitialization) {
  const int tp = GetParam();
  const GptShape s = tp_shape(tp);
  const ParamLayout full = tp_layout(s, 0, 1);
  std::vector<float> ref;
  init_parameters(ref, full, s, 1234);
  std::vector<float> assembled(ref.size(), -7.0f);
  for (int r = 0; r < tp; ++r) {
    const ParamLayout l = tp_layout(s, r, tp);
    std::vector<float> local;
    init_parameters(local, l, s, 1234);
    for (std::size_t k = 0; k < l.tensors().size(); ++k) {
      const ParamTensor& t = l.tensors()[k];
      const ParamTensor& f = full.tensors()[k];
      for (std::size_t i = 0; i < t.count; ++i) {
        const std::size_t j = f.offset + l.full_index(t, i);
        if (t.split == ParamTensor::Split::none && r > 0) {
          ASSERT_EQ(local[t.offset + i], assembled[j]) << t.name() << ": replicated tensor differs on rank " << r;
        }
        assembled[j] = local[t.offset + i];
      }
    }
  }
  ASSERT_EQ(assembled, ref);
}

INSTANTIATE_TEST_SUITE_P(TensorSizes, TensorParallelLayout, ::testing::Values(1, 2, 4),
                         [](const auto& p) { return "tp" + std::to_string(p.param); });

}  // namespace
}  // namespace strata
