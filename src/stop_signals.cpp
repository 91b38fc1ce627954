// stop_signals.cpp — see stop_signals.h.
#include "src/stop_signals.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "kernels/error.h"

namespace strata {
namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free (async-signal-safe)");

extern "C" void record_stop_signal(int sig) { g_stop_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = record_stop_signal;
  action.sa_flags = SA_RESTART;  // writes of a checkpoint in progress are restarted, not failed with EINTR
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGUSR1, SIGTERM})
    STRATA_CHECK(sigaction(sig, &action, nullptr) == 0, internal, "sigaction(", sig, ") failed: ", std::strerror(errno));
}

int stop_signal_received() { return g_stop_signal.load(std::memory_order_relaxed); }

void clear_stop_signal() { g_stop_signal.store(0, std::memory_order_relaxed); }

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::none: return "none";
    case StopReason::signal: return "signal";
    case StopReason::time_budget: return "time budget";
  }
  return "?";
}

StopPolicy::StopPolicy(MaxAllReduce max_flags, double max_minutes, std::chrono::steady_clock::time_point start)
    : max_flags_(std::move(max_flags)), budget_seconds_(max_minutes * 60.0), start_(start) {}

double StopPolicy::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void StopPolicy::record_save(double seconds) { longest_save_ = std::max(longest_save_, seconds); }

StopReason StopPolicy::check(double step_seconds) {
  longest_step_ = std::max(longest_step_, step_seconds);
  int flags[2] = {stop_signal_received() != 0 ? 1 : 0, 0};
  if (budget_seconds_ > 0) {
    const double save = longest_save_ >= 0 ? longest_save_ : longest_step_;
    flags[1] = elapsed_seconds() + 2.0 * longest_step_ + save >= budget_seconds_ ? 1 : 0;
  }
  if (max_flags_) max_flags_(flags, 2);
  if (flags[0] != 0) return StopReason::signal;
  if (flags[1] != 0) return StopReason::time_budget;
  return StopReason::none;
}

}  // namespace strata
