// param_init.cpp — see param_init.h.
#include "src/param_init.h"

#include <cmath>
#include <string_view>

#include "kernels/counter_rng.h"

namespace strata {
namespace {

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
  return h;
}

}  // namespace

void init_parameters(std::vector<float>& host, const ParamLayout& layout, const GptShape& shape, uint64_t seed) {
  host.assign(layout.total(), 0.0f);
  const float std_normal = 0.02f;
  const float std_residual = 0.02f / std::sqrt(2.0f * static_cast<float>(shape.layers));
  for (const ParamTensor& t : layout.tensors()) {
    float* p = host.data() + t.offset;
    if (t.init == ParamInit::ones) {
      std::fill(p, p + t.count, 1.0f);
      continue;
    }
    if (t.init == ParamInit::zeros) continue;
    const float stddev = t.init == ParamInit::residual_normal ? std_residual : std_normal;
    const uint64_t stream = fnv1a(t.name());
    // Element i of a local tensor is element full_index(i) of the full one, so tensor ranks hold exactly
    // the slices of the single-rank model. wte's padded rows stay zero: they never receive a gradient,
    // so results do not depend on padding.
    const std::size_t live = t.kind == ParamKind::wte
                                 ? static_cast<std::size_t>(shape.vocab_size) * static_cast<std::size_t>(shape.hidden)
                                 : t.full_count();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < t.count; ++i) {
      const std::size_t j = layout.full_index(t, i);
      p[i] = j < live ? stddev * counter_normal(seed, stream, j) : 0.0f;
    }
  }
}

}  // namespace strata
