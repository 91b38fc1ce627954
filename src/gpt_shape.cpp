// gpt_shape.cpp — see gpt_shape.h.
#include "src/gpt_shape.h"

namespace strata {

int64_t gpt_parameter_count(const GptShape& s) {
  const int64_t c = s.hidden, l = s.layers;
  const int64_t per_layer = 2 * c            // ln1
                            + 3 * c * c + 3 * c  // qkv
                            + c * c + c          // attention projection
                            + 2 * c              // ln2
                            + 4 * c * c + 4 * c  // mlp up
                            + 4 * c * c + c;     // mlp down
  return static_cast<int64_t>(s.padded_vocab()) * c + static_cast<int64_t>(s.seq_len) * c + l * per_layer + 2 * c;
}

double gpt_flops_per_token(const GptShape& s) {
  const double c = s.hidden, l = s.layers;
  const double matmul_params = l * 12.0 * c * c + static_cast<double>(s.padded_vocab()) * c;
  return 6.0 * matmul_params + 12.0 * l * c * s.seq_len;
}

}  // namespace strata
