// param_init.h — layout-independent parameter initialization (SPEC section 4): element i of a tensor
// is a pure function of (seed, tensor name, i), drawn from a counter-based generator, so any
// partition (pipeline stage, tensor slice, ZeRO shard) initializes its piece to exactly the values
// the single-rank model has there.
#pragma once

#include <cstdint>
#include <vector>

#include "src/param_layout.h"

namespace strata {

// Fills `host` (layout.total() floats) with the initial parameters of this partition:
// weights N(0, 0.02), residual output projections N(0, 0.02/sqrt(2*layers)), LayerNorm weight 1,
// biases 0; padded vocabulary rows of wte are 0.
void init_parameters(std::vector<float>& host, const ParamLayout& layout, const GptShape& shape, uint64_t seed);


}  // namespace strata
