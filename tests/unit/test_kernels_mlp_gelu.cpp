// test_kernels_mlp_gelu.cpp — Backend::matmul_gelu_forward_bf16 / matmul_dgelu_backward_bf16 (the MLP's
// GELU with its bf16 GEMMs, bf16 activations; CUDA: the cuBLASLt GELU_AUX_BIAS epilogue) on every backend
// against the unfused fp32-output ops of the same backend: matmul_forward_bf16 then gelu_forward (the
// fused op's bf16 pre and out must be their roundings), and matmul_backward_bf16 then gelu_backward (each
// tested against double references in test_kernels_linear.cpp and test_kernels_pointwise.cpp). Shapes with
// OC a multiple of 8 take the epilogue on CUDA; the others take its fallback (fp32 GEMM, then the GELU kernel).
#include <gtest/gtest.h>

#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/pointwise_math.h"

namespace strata::ktest {
namespace {

struct MlpShape {
  int n, c, oc;
};
void PrintTo(const MlpShape& s, std::ostream* os) { *os << "N=" << s.n << " C=" << s.c << " OC=" << s.oc; }

const MlpShape kMlpShapes[] = {{1, 8, 8}, {5, 16, 64}, {33, 64, 256}, {7, 40, 24}, {3, 7, 5}, {4, 13, 300}};

// The backward's GELU step may be computed by different code than the plain call: both are gelu_tanh' on the
// same pre-activation, so they agree to float rounding; 1e-4 + 1e-3 relative also absorbs a GEMM algorithm
// change between the fused and the plain call.
constexpr Tolerance kFusedGelu{1e-4, 1e-3};

class KernelMlpGelu : public ::testing::TestWithParam<std::tuple<BackendFactory, MlpShape>> {};

// pre and out are the bf16 roundings of the fp32 GEMM result and of its GELU (the unfused ops of the same
// backend, in fp32; out within the GELU tolerance on CUDA, see below).
TEST_P(KernelMlpGelu, FusedForwardIsRoundingOfMatmulThenGelu) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const MlpShape s = std::get<1>(GetParam());
  const std::size_t n_out = std::size_t(s.n) * s.oc;
  auto d_inp = upload(*be, to_bf16_words(random_vector(std::size_t(s.n) * s.c, 51)));
  auto d_w = upload(*be, to_bf16_words(random_vector(std::size_t(s.oc) * s.c, 52)));
  auto d_bias = upload(*be, random_vector(s.oc, 53));
  DeviceBuffer<bf16> out(*be, n_out), pre(*be, n_out);
  DeviceBuffer<float> ref_pre(*be, n_out), ref_out(*be, n_out);
  be->matmul_gelu_forward_bf16(out.data(), pre.data(), d_inp.data(), d_w.data(), d_bias.data(), s.n, s.c, s.oc);
  be->matmul_forward_bf16(ref_pre.data(), d_inp.data(), d_w.data(), d_bias.data(), s.n, s.c, s.oc);
  be->gelu_forward(ref_out.data(), ref_pre.data(), n_out);
  EXPECT_TRUE(is_bf16_rounding_of("pre", download(*be, pre), download(*be, ref_pre)));
  // cuBLASLt's epilogue computes the GELU with its own formula, which may move `out` across a rounding
  // boundary more often than a summation order does: held to the GELU tolerance plus the storage rounding.
  // The CPU backend runs math::gelu on the same fp32 sum: exactly the rounding there.
  const std::vector<bf16> out16 = download(*be, out);
  EXPECT_TRUE(all_close("out", widened(out16), to_double(download(*be, ref_out)), plus_bf16_storage(kFusedGelu)));
  if (be->kind() == DeviceKind::cpu) {
    EXPECT_TRUE(is_bf16_rounding_of("out", out16, download(*be, ref_out)));
  }
}

// The backward of fc_proj from its bf16 input inp = bf16(gelu(pre)) and the bf16 pre: matmul_backward_bf16 then
// gelu_backward at the widened pre.
TEST_P(KernelMlpGelu, FusedBackwardMatchesMatmulThenGeluBackward) {
  KTEST_BACKEND_OR_SKIP(const auto be, std::get<0>(GetParam()));
  const MlpShape s = std::get<1>(GetParam());  // the next layer: inp (N, C) = gelu(pre), dout (N, OC)
  const std::vector<float> pre = bf16_rounded(random_vector(std::size_t(s.n) * s.c, 61));
  const std::vector<float> g = random_vector(std::size_t(s.n) * s.oc, 62);
  const std::vector<float> dw0 = random_vector(std::size_t(s.oc) * s.c, 63), dbias0 = random_vector(s.oc, 64);
  std::vector<float> inp(pre.size());
  for (std::size_t i = 0; i < pre.size(); ++i) inp[i] = math::gelu(pre[i]);
  auto d_pre = upload(*be, pre);
  auto d_pre16 = upload(*be, to_bf16_words(pre));
  auto d_inp16 = upload(*be, to_bf16_words(inp));
  auto d_w = upload(*be, to_bf16_words(random_vector(std::size_t(s.oc) * s.c, 65)));
  auto d_g = upload(*be, g);
  auto fused_dw = upload(*be, dw0), fused_db = upload(*be, dbias0), ref_dw = upload(*be, dw0), ref_db = upload(*be, dbias0);
  DeviceBuffer<float> fused_dinp(*be, pre.size()), ref_dinp(*be, pre.size());
  be->matmul_dgelu_backward_bf16(fused_dinp.data(), fused_dw.data(), fused_db.data(), d_g.data(), d_inp16.data(),
                                 d_pre16.data(), d_w.data(), s.n, s.c, s.oc);
  be->matmul_backward_bf16(ref_dinp.data(), ref_dw.data(), ref_db.data(), d_g.data(), d_inp16.data(), d_w.data(), s.n,
                           s.c, s.oc);
  be->gelu_backward(ref_dinp.data(), d_pre.data(), ref_dinp.data(), pre.size());
  EXPECT_TRUE(all_close("dinp", download(*be, fused_dinp), to_double(download(*be, ref_dinp)), kFusedGelu));
  EXPECT_TRUE(all_close("dw", download(*be, fused_dw), to_double(download(*be, ref_dw)), kFusedGelu));
  EXPECT_TRUE(all_close("dbias", download(*be, fused_db), to_double(download(*be, ref_db)), kFusedGelu));
}

std::string mlp_name(const ::testing::TestParamInfo<std::tuple<BackendFactory, MlpShape>>& info) {
  const MlpShape& s = std::get<1>(info.param);
  std::ostringstream os;
  os << std::get<0>(info.param).name << "_N" << s.n << "_C" << s.c << "_OC" << s.oc;
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KernelMlpGelu,
                         ::testing::Combine(::testing::ValuesIn(backend_factories()), ::testing::ValuesIn(kMlpShapes)),
                         mlp_name);

}  // namespace
}  // namespace strata::ktest
