// train_test_util.h — what the parallel-training equivalence tests share: a sample source that is a
// pure function of the global sample index (so every layout sees the same samples), and a run of
// N training steps that records what the tests compare.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "parallel/groups.h"
#include "parallel/mpi_communicator.h"
#include "parallel/topology.h"
#include "src/param_layout.h"
#include "src/trainer.h"

namespace strata::test {

class IndexedTokens final : public BatchSource {
 public:
  explicit IndexedTokens(int seq_len) : t_(seq_len) {}
  void read(uint64_t first, int count, int32_t* inputs, int32_t* targets) override {
    for (int s = 0; s < count; ++s)
      for (int i = 0; i < t_; ++i) {
        const uint64_t k = (first + s) * 131 + i;
        inputs[s * t_ + i] = static_cast<int32_t>((k * 7 + (k / 5)) % 61);
        targets[s * t_ + i] = static_cast<int32_t>(((k + 1) * 7 + ((k + 1) / 5)) % 61);
      }
  }
  std::string describe() const override { return "indexed tokens"; }

 private:
  int t_;
};

// The small model and schedule the equivalence tests train: `layers` blocks of hidden 32, 4 heads,
// sequence 16, vocabulary 61; micro-batch 2, global batch 8 (4 micro-batches on one data rank), 10 steps
// of AdamW with warmup, weight decay and clipping, one evaluation batch.
inline Config small_training_config(int layers) {
  Config c;
  c.model = {layers, 32, 4, 16, 61};
  c.train.micro_batch = 2;
  c.train.global_batch = 8;
  c.train.steps = 10;
  c.train.eval_steps = 1;
  c.train.grad_clip = 1.0;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 2;
  c.optim.weight_decay = 0.1;
  return c;
}

inline int world_size() {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  return world;
}
inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

struct TrainRun {
  std::vector<double> loss, grad_norm;  // per step
  double val_loss = 0;                  // after the last step
  uint64_t comm_bytes = 0;              // of the last step
  double comm_overlap = 0;              // of the last step
  CommBytes comm_by_group;              // of the last step
  std::vector<float> params;            // this rank's (local) parameters after the last step
};

// cfg.train.steps steps of a Trainer on IndexedTokens (vocabulary 61); groups null: one rank. On
// `backend` when given (the NCCL tests pass a CUDA backend), else on a fresh CPU backend.
inline TrainRun train_steps(const Config& cfg, const ParallelGroups* groups, Backend* backend = nullptr) {
  std::unique_ptr<Backend> own = backend ? nullptr : make_cpu_backend();
  Backend* be = backend ? backend : own.get();
  Trainer t(cfg, *be, std::make_unique<IndexedTokens>(cfg.model.seq_len),
            std::make_unique<IndexedTokens>(cfg.model.seq_len), 1e12, groups);
  TrainRun r;
  for (int i = 0; i < cfg.train.steps; ++i) {
    const StepMetrics m = t.step();
    r.loss.push_back(m.loss);
    r.grad_norm.push_back(m.grad_norm);
    r.comm_bytes = m.comm_bytes;
    r.comm_overlap = m.comm_overlap;
    r.comm_by_group = m.comm_bytes_by_group;
  }
  r.val_loss = t.evaluate();
  r.params = t.model().get_parameters();
  return r;
}

// Tolerances of the equivalence below; the defaults are fp32's (train.precision=bf16 states its own).
struct Equivalence {
  double loss_rel = 1e-5;       // per-step and validation losses, relative
  double grad_norm_rel = 1e-4;  // per-step gradient norms, relative
  double param_abs = 1e-5;      // final parameters, absolute
  // At most this fraction of the final parameters may be further than param_abs apart, none further than
  // param_abs_max (0 and param_abs: every parameter within param_abs).
  double param_outliers = 0;
  double param_abs_max = 0;
};

// train.precision=bf16 layouts against the single-rank bf16 run: a ~1e-7 fp32 difference can flip the bf16
// rounding of a stored activation, and AdamW turns the flip into a parameter difference of up to ~lr per
// step in the one weight row it touches (why and the measured differences:
// tests/mpi_train/test_bf16_training.cpp). Such rows may pass param_abs: at most 1% of the parameters, none
// further apart than 2e-2 = 2 x lr (1e-3) x 10 steps, the most two AdamW runs whose updates are each at most
// lr can diverge.
inline constexpr Equivalence kBf16Equivalence{1e-4, 1e-3, 5e-4, 1e-2, 2e-2};

// The equivalence every parallel layout must show against the single-rank run `ref`: per-step losses
// within 1e-5 relative, gradient norms within 1e-4 relative, the validation loss within 1e-5
// relative, and `full_params` (the parallel run's parameters gathered into the single-rank layout)
// within 1e-5 absolute (or the tolerances `tol`).
inline void expect_matches_single_rank(const TrainRun& par, const std::vector<float>& full_params,
                                       const TrainRun& ref, const Equivalence& tol = {}) {
  ASSERT_EQ(par.loss.size(), ref.loss.size());
  for (std::size_t i = 0; i < ref.loss.size(); ++i) {
    EXPECT_NEAR(par.loss[i], ref.loss[i], tol.loss_rel * std::abs(ref.loss[i])) << "step " << i + 1;
    EXPECT_NEAR(par.grad_norm[i], ref.grad_norm[i], tol.grad_norm_rel * std::abs(ref.grad_norm[i])) << "step " << i + 1;
  }
  EXPECT_NEAR(par.val_loss, ref.val_loss, tol.loss_rel * std::abs(ref.val_loss));
  ASSERT_EQ(full_params.size(), ref.params.size());
  double worst = 0;
  std::size_t outliers = 0;
  for (std::size_t i = 0; i < full_params.size(); ++i) {
    const double d = std::abs(full_params[i] - ref.params[i]);
    worst = std::max(worst, d);
    outliers += d >= tol.param_abs;
  }
  EXPECT_LT(worst, std::max(tol.param_abs, tol.param_abs_max))
      << "largest parameter difference after " << ref.loss.size() << " steps";
  EXPECT_LE(static_cast<double>(outliers), tol.param_outliers * static_cast<double>(full_params.size()))
      << outliers << " of " << full_params.size() << " parameters differ by " << tol.param_abs
      << " or more after " << ref.loss.size() << " steps (largest " << worst << ")";
}

// Data replicas hold bit-identical parameters (same reduced gradients, same update).
inline void expect_equal_to_data_replica0(const ParallelGroups& groups, const std::vector<float>& params) {
  std::vector<float> replica0 = params;
  groups.data().broadcast(replica0, 0);
  EXPECT_EQ(replica0, params) << "data rank " << groups.data().rank() << " diverged from data replica 0";
}

// The partition model rank (stage, tensor_rank) of cfg's layout holds (its parallel.virtual_stages
// chunks when the pipeline is interleaved).
inline ModelPartition stage_partition(const Config& cfg, int stage, int tensor_rank) {
  ModelPartition part = pipeline_partition(cfg.model.layers, cfg.parallel.pipeline, stage,
                                           cfg.parallel.pipeline > 1 ? cfg.parallel.virtual_stages : 1);
  part.tensor_rank = tensor_rank;
  part.tensor_size = cfg.parallel.tensor;
  return part;
}

// The full parameters from every model-group rank's (stage, tensor slice): all-gather the local buffers
// over the model group (rank tp + T*pp) and scatter each tensor with its rank's full_index. A parameter
// held twice (replicated over tensor ranks; wte on the first and last stage) must agree bit for bit.
inline std::vector<float> reassemble(const Config& cfg, const ParallelGroups& groups, const std::vector<float>& local) {
  Communicator& model = groups.model();
  const int tp = cfg.parallel.tensor, n = model.size();
  std::vector<std::size_t> counts(n);
  for (int r = 0; r < n; ++r) counts[r] = ParamLayout(cfg.shape(), stage_partition(cfg, r / tp, r % tp)).total();
  EXPECT_EQ(counts[model.rank()], local.size());
  std::size_t sum = 0;
  for (std::size_t c : counts) sum += c;
  std::vector<float> all(sum);
  model.all_gatherv(local, all, counts);
  const ParamLayout full(cfg.shape(), ModelPartition{});
  std::vector<float> out(full.total(), 0.0f);
  std::vector<bool> set(full.total(), false);
  std::size_t base_r = 0;
  for (int r = 0; r < n; ++r) {
    const ParamLayout l(cfg.shape(), stage_partition(cfg, r / tp, r % tp));
    const float* src = all.data() + base_r;
    base_r += counts[r];
    for (const ParamTensor& t : l.tensors()) {
      const std::size_t base = full.get(t.kind, t.layer).offset;
      for (std::size_t i = 0; i < t.count; ++i) {
        const std::size_t j = base + l.full_index(t, i);
        if (set[j]) {
          EXPECT_EQ(src[t.offset + i], out[j]) << t.name() << "[" << i << "] of model rank " << r
                                               << " differs from its other copy";
          if (src[t.offset + i] != out[j]) return out;
        }
        out[j] = src[t.offset + i];
        set[j] = true;
      }
    }
  }
  EXPECT_TRUE(std::all_of(set.begin(), set.end(), [](bool b) { return b; })) << "parameters held by no rank";
  return out;
}

// The single-rank reference of a parallel configuration: the same model, data, seed and schedule on one
// rank, without recompute (which must not change results) and without the layout-only keys; on
// `backend` when given (the NCCL tests: the CUDA backend), else on a fresh CPU backend.
inline TrainRun single_rank_reference(const Config& cfg, Backend* backend = nullptr) {
  Config ref = cfg;
  ref.train.recompute = "none";
  ref.parallel.pipeline = 1;
  ref.parallel.virtual_stages = 1;
  ref.parallel.sequence_parallel = false;
  ref.parallel.zero_stage = 0;
  return train_steps(ref, nullptr, backend);
}

// The equivalence of any layout (tensor x pipeline x data over `groups`, 1F1B or interleaved, any ZeRO
// stage, sequence parallel or not): cfg trains like the single-rank run of the same model, which every
// rank computes itself on `backend` (null: a CPU backend; the parallel run uses the same); the parameters
// are reassembled over the model group (ZeRO-3: gathered from the shards by the model first); the last
// stage's tied wte copy equals the first stage's bit for bit, and data replicas hold identical
// parameters. Returns this rank's run. tol: see Equivalence.
inline TrainRun expect_layout_matches_single_rank(const Config& cfg, const ParallelGroups& groups,
                                                  const Equivalence& tol = {}, Backend* backend = nullptr) {
  const Topology& topo = groups.topology();
  const TrainRun ref = single_rank_reference(cfg, backend);
  const TrainRun par = train_steps(cfg, &groups, backend);

  if (groups.has_embedding() && cfg.parallel.pipeline > 1) {
    const ParamLayout layout(cfg.shape(), stage_partition(cfg, topo.pp_rank(), topo.tp_rank()));
    const ParamTensor& wte = layout.get(ParamKind::wte);
    const std::vector<float> mine(par.params.begin() + wte.offset, par.params.begin() + wte.offset + wte.count);
    std::vector<float> first = mine;
    groups.embedding()->broadcast(first, 0);
    EXPECT_TRUE(first == mine) << "rank " << topo.rank() << ": the tied wte copies of the first and last stage differ";
  }
  expect_matches_single_rank(par, reassemble(cfg, groups, par.params), ref, tol);
  if (topo.data_size() > 1) expect_equal_to_data_replica0(groups, par.params);
  return par;
}

// The pipeline-parallel equivalence on CPU ranks: cfg's layout over the world with MPI groups
// (expect_layout_matches_single_rank).
inline TrainRun expect_pipeline_matches_single_rank(const Config& cfg, const Equivalence& tol = {}) {
  const Topology topo(world_size(), world_rank(), cfg.parallel.tensor, cfg.parallel.pipeline, cfg.parallel.order);
  const ParallelGroups groups = make_mpi_groups(topo);
  return expect_layout_matches_single_rank(cfg, groups, tol);
}

}  // namespace strata::test
