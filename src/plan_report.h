// plan_report.h — how strata-plan shows predictions: a human report of one layout, a ranked table of
// a search, and the same as JSON (nlohmann::json) for scripts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "src/plan_search.h"
#include "src/plan_time.h"

namespace strata {

std::string format_prediction(const StepPrediction& p, const Hardware& hw);
nlohmann::json prediction_json(const StepPrediction& p);

// The first `top` fitting layouts (all when top <= 0).
std::string format_search(const SearchResult& r, const Hardware& hw, int gpus, int top);
nlohmann::json search_json(const SearchResult& r, int top);

// 1234567 -> "1,234,567"; bytes -> "12.3 GiB".
std::string with_commas(long long n);
std::string gib(double bytes);

}  // namespace strata
