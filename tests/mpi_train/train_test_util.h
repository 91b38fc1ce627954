// train_test_util.h — what the parallel-training equivalence tests share: a sample source that is a
// pure function of the global sample index (so every layout sees the same samples), and a run of
// N training steps that records what the tests compare.
#pragma once

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
  }
  r.val_loss = t.evaluate();
  r.params = t.model().get_parameters();
  return r;
}

}  // namespace strata::test
