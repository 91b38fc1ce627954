// plan_search.cpp — see plan_search.h.
#include "src/plan_search.h"

#include <algorithm>

#include "kernels/error.h"

namespace strata {
namespace {

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int i = 1; i <= n; ++i)
    if (n % i == 0) out.push_back(i);
  return out;
}

}  // namespace

SearchResult search_layouts(const Config& base, int gpus, const Hardware& hw, double train_tokens,
                            const std::string& precision) {
  SearchResult out;
  const GptShape shape = base.shape();
  for (int t : divisors(gpus)) {
    if (base.model.heads % t != 0) continue;
    for (int p : divisors(gpus / t)) {
      if (base.model.layers % p != 0) continue;
      for (int v : divisors(base.model.layers / p)) {
        if (v > 1 && (p == 1 || v > 16)) continue;
        for (int mb : {1, 2, 4, 8}) {
          for (int zero = 0; zero <= 3; ++zero) {
            for (int sp = 0; sp <= (t > 1 ? 1 : 0); ++sp) {
              for (const char* rc : {"none", "selective", "full"}) {
                PlanLayout l;
                l.tensor = t, l.pipeline = p, l.virtual_stages = v, l.data = gpus / (t * p);
                l.zero_stage = zero, l.sequence_parallel = sp == 1, l.recompute = rc;
                l.micro_batch = mb, l.global_batch = base.train.global_batch;
                l.precision = precision, l.order = base.parallel.order;
                try {
                  check_layout(base, l);
                } catch (const Error& e) {
                  if (e.kind() != ErrorKind::config) throw;
                  continue;
                }
                ++out.valid;
                StepPrediction pred = predict(shape, l, hw, train_tokens);
                if (!pred.fits) {
                  ++out.rejected_memory;
                  continue;
                }
                out.fitting.push_back(std::move(pred));
              }
            }
          }
        }
      }
    }
  }
  std::stable_sort(out.fitting.begin(), out.fitting.end(), [](const StepPrediction& a, const StepPrediction& b) {
    if (a.tokens_per_s != b.tokens_per_s) return a.tokens_per_s > b.tokens_per_s;
    return a.max_memory < b.max_memory;
  });
  return out;
}

}  // namespace strata
