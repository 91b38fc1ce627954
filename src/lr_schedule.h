// lr_schedule.h — learning rate per step: linear warmup, then cosine (or linear, or constant) decay to
// min_lr at the last step. A pure function of the step, so resuming needs only the step.
#pragma once

#include <cstdint>
#include <string>

namespace strata {

struct LrSchedule {
  double lr = 6e-4, min_lr = 6e-5;
  int64_t warmup_steps = 0, total_steps = 1;
  std::string decay = "cosine";

  double at(int64_t step) const;  // step is 0-based
};

}  // namespace strata
