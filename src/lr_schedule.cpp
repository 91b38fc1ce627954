// lr_schedule.cpp — see lr_schedule.h.
#include "src/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace strata {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (decay == "constant") return lr;
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - 1 - warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  if (decay == "linear") return lr + (min_lr - lr) * progress;
  return min_lr + 0.5 * (1.0 + std::cos(M_PI * progress)) * (lr - min_lr);
}

}  // namespace strata
