// test_nccl_layouts.cpp — the parallel equivalence tests of tests/mpi_train on GPUs: on 2 ranks (which may
// share one GPU) with the CUDA backend and NCCL groups (parallel/nccl_communicator.h), each layout trains
// 6 steps of a small model (hidden 32, 4 heads, sequence 16, vocabulary 61; micro-batch 2, global batch
// 8; AdamW with warmup, weight decay and clipping) and is compared with the single-rank run of the same
// model, data and seed on the same CUDA backend (test::expect_layout_matches_single_rank): per-step losses
// and the validation loss within 1e-5 relative, gradient norms within 1e-4 relative, the final parameters
// (gathered from the ZeRO-3 shards, reassembled from the tensor slices and pipeline stages over the model
// group) within 1e-5 absolute; bf16 within test::kBf16Equivalence. Copies of a parameter must be
// bit-identical: data replicas, tensors replicated over the tensor ranks, the tied wte of the first and
// last stage. Layouts: data 2 with ZeRO 1, 2 and 3 (ZeRO-3 with 4 blocks, so block gathers are evicted
// and repeated within a step); tensor 2 without and with sequence parallelism; pipeline 2 with 1F1B (one
// block per stage) and interleaved (2 virtual stages, 4 blocks); tensor 2 with sequence parallelism in
// train.precision=bf16. Device buffers go through NCCL, the pipeline's activations are staged through the
// host, the tests' host buffers (reassembly, replica checks) through MPI. Without a GPU every test is
// skipped with the reason (ctest: skipped), as is a layout whose size differs from the world size.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "parallel/nccl_communicator.h"
#include "parallel/topology.h"
#include "src/config.h"
#include "tests/cuda/nccl_test_fixture.h"
#include "tests/mpi_train/train_test_util.h"

namespace strata {
namespace {

struct NcclLayout {
  int tensor, pipeline, data, zero_stage;
  int virtual_stages = 1;          // > 1: the interleaved schedule
  bool sequence_parallel = false;
  const char* precision = "fp32";
  int layers = 2;
};
void PrintTo(const NcclLayout& l, std::ostream* os) {
  *os << "tensor " << l.tensor << " x pipeline " << l.pipeline << " x data " << l.data << ", ZeRO " << l.zero_stage
      << ", virtual stages " << l.virtual_stages << (l.sequence_parallel ? ", sequence parallel" : "") << ", "
      << l.precision << ", " << l.layers << " layers";
}

Config layout_config(const NcclLayout& l) {
  Config c = test::small_training_config(l.layers);
  c.train.steps = 6;  // the suite runs inside tests/gpu/device-check.sh's NCCL stage: keep it short
  c.train.precision = l.precision;
  c.parallel.tensor = l.tensor;  // the single-rank reference pads its vocabulary alike (no effect on results)
  c.parallel.pipeline = l.pipeline;
  c.parallel.virtual_stages = l.virtual_stages;
  c.parallel.zero_stage = l.zero_stage;
  c.parallel.sequence_parallel = l.sequence_parallel;
  return c;
}

class NcclLayoutTraining : public test::NcclTest, public ::testing::WithParamInterface<NcclLayout> {};

TEST_P(NcclLayoutTraining, MatchesSingleRankCuda) {
  const NcclLayout l = GetParam();
  const int size = l.tensor * l.pipeline * l.data;
  if (w.size != size) GTEST_SKIP() << "needs " << size << " ranks, have " << w.size;
  const Config cfg = layout_config(l);
  validate_config(cfg, size);
  const Topology topo(w.size, w.rank, l.tensor, l.pipeline, cfg.parallel.order);
  const ParallelGroups groups = make_nccl_groups(topo, *be);
  ASSERT_EQ(groups.model().backend_name(), "nccl");
  const bool bf16 = std::string(l.precision) == "bf16";
  test::expect_layout_matches_single_rank(cfg, groups, bf16 ? test::kBf16Equivalence : test::Equivalence{}, be.get());
}

std::string layout_name(const ::testing::TestParamInfo<NcclLayout>& p) {
  const NcclLayout& l = p.param;
  return "tp" + std::to_string(l.tensor) + "_pp" + std::to_string(l.pipeline) + "_dp" + std::to_string(l.data) +
         (l.virtual_stages > 1 ? "_vp" + std::to_string(l.virtual_stages) : std::string()) + "_zero" +
         std::to_string(l.zero_stage) + (l.sequence_parallel ? "_sp" : "") + "_" + l.precision;
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, NcclLayoutTraining,
    ::testing::Values(NcclLayout{1, 1, 2, 1}, NcclLayout{1, 1, 2, 2}, NcclLayout{1, 1, 2, 3, 1, false, "fp32", 4},
                      NcclLayout{2, 1, 1, 1}, NcclLayout{2, 1, 1, 1, 1, true}, NcclLayout{1, 2, 1, 1},
                      NcclLayout{1, 2, 1, 1, 2, false, "fp32", 4}, NcclLayout{2, 1, 1, 1, 1, true, "bf16"}),
    layout_name);

}  // namespace
}  // namespace strata
