// plan_search.h — every valid layout of a model on a number of GPUs, ranked by predicted throughput.
//
// Enumerated: tensor sizes dividing the heads and the GPU count; pipeline sizes dividing the layers
// and the rest; virtual stages dividing layers/pipeline (interleaving needs pipeline > 1 and
// micro-batches divisible by pipeline); micro-batches 1, 2, 4, 8 dividing global_batch/data; ZeRO 0-3;
// sequence parallelism on and off (with tensor > 1); recompute none, selective, full. Each candidate
// passes check_layout (SPEC section 5 rules) and is predicted (plan_time.h); those that fit in
// memory are sorted by tokens/s (ties: less memory first).
#pragma once

#include <vector>

#include "src/config.h"
#include "src/plan_hardware.h"
#include "src/plan_time.h"

namespace strata {

struct SearchResult {
  std::vector<StepPrediction> fitting;  // best first
  int valid = 0;                        // layouts that passed check_layout
  int rejected_memory = 0;              // of which did not fit
};

// base: the configuration (model, global batch, precision, order); gpus: world size.
SearchResult search_layouts(const Config& base, int gpus, const Hardware& hw, double train_tokens,
                            const std::string& precision);

}  // namespace strata
