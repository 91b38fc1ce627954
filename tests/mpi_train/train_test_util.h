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

struct TrainRun {
  std::vector<double> loss, grad_norm;  // per step
  double val_loss = 0;                  // after the last step
  uint64_t comm_bytes = 0;              // of the last step
  double comm_overlap = 0;              // of the last step
  std::vector<float> params;            // this rank's (local) parameters after the last step
};

// cfg.train.steps steps of a Trainer on IndexedTokens (vocabulary 61); groups null: one rank.
inline TrainRun train_steps(const Config& cfg, const ParallelGroups* groups) {
  auto be = make_cpu_backend();
  Trainer t(cfg, *be, std::make_unique<IndexedTokens>(cfg.model.seq_len),
            std::make_unique<IndexedTokens>(cfg.model.seq_len), 1e12, groups);
  TrainRun r;
  for (int i = 0; i < cfg.train.steps; ++i) {
    const StepMetrics m = t.step();
    r.loss.push_back(m.loss);
    r.grad_norm.push_back(m.grad_norm);
    r.comm_bytes = m.comm_bytes;
    r.comm_overlap = m.comm_overlap;
  }
  r.val_loss = t.evaluate();
  r.params = t.model().get_parameters();
  return r;
}

// The equivalence every parallel layout must show against the single-rank run `ref`: per-step losses
// within 1e-5 relative, gradient norms within 1e-4 relative, the validation loss within 1e-5
// relative, and `full_params` (the parallel run's parameters gathered into the single-rank layout)
// within 1e-5 absolute.
inline void expect_matches_single_rank(const TrainRun& par, const std::vector<float>& full_params,
                                       const TrainRun& ref) {
  ASSERT_EQ(par.loss.size(), ref.loss.size());
  for (std::size_t i = 0; i < ref.loss.size(); ++i) {
    EXPECT_NEAR(par.loss[i], ref.loss[i], 1e-5 * std::abs(ref.loss[i])) << "step " << i + 1;
    EXPECT_NEAR(par.grad_norm[i], ref.grad_norm[i], 1e-4 * std::abs(ref.grad_norm[i])) << "step " << i + 1;
  }
  EXPECT_NEAR(par.val_loss, ref.val_loss, 1e-5 * std::abs(ref.val_loss));
  ASSERT_EQ(full_params.size(), ref.params.size());
  double worst = 0;
  for (std::size_t i = 0; i < full_params.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(full_params[i] - ref.params[i])));
  EXPECT_LT(worst, 1e-5) << "largest parameter difference after " << ref.loss.size() << " steps";
}

// Data replicas hold bit-identical parameters (same reduced gradients, same update).
inline void expect_equal_to_data_replica0(const ParallelGroups& groups, const std::vector<float>& params) {
  std::vector<float> replica0 = params;
  groups.data().broadcast(replica0, 0);
  EXPECT_EQ(replica0, params) << "data rank " << groups.data().rank() << " diverged from data replica 0";
}

}  // namespace strata::test
