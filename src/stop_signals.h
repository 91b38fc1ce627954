// stop_signals.h — stopping a run early and cleanly: SIGUSR1/SIGTERM (Slurm preemption, `scancel
// --signal`, mpirun forwarding) and the train.max_minutes wall-clock budget. Rules:
//  - a signal handler only records the signal (a lock-free atomic); nothing is done inside it. Further
//    signals, also those arriving while the checkpoint is being written, only record it again: the
//    save continues (SA_RESTART restarts interrupted writes) and `latest` is replaced only after it;
//  - the decision is taken at a step boundary and is the same on every rank: each rank contributes its
//    own flags (signal seen, budget nearly spent) and one all-reduce (max) of two ints over the world
//    makes them global, so a signal delivered to a single rank stops all of them at the same step;
//  - the budget stop leaves room to finish: it fires when elapsed + 2 x (longest step) + (longest
//    checkpoint save so far, a step when none yet) reaches train.max_minutes.
// A run stopped early saves a checkpoint and exits with kExitStopped, which the job scripts in jobs/
// read as "requeue me"; a run that reaches train.steps exits 0 even if a signal came during the last step.
#pragma once

#include <chrono>
#include <functional>

namespace strata {

// Exit code of a run that stopped early (signal or time budget) after saving a checkpoint. 75 is
// EX_TEMPFAIL of sysexits.h: "temporary failure, run again" — the job scripts requeue on it.
inline constexpr int kExitStopped = 75;

// Installs the SIGUSR1 and SIGTERM handlers (SA_RESTART, not reset after the first signal). Call once
// after MPI start-up (MPI libraries may install their own handlers for other signals).
void install_stop_signal_handlers();
// The last stop signal this process received (SIGUSR1 or SIGTERM), 0 when none.
int stop_signal_received();
// Forgets a received signal (tests).
void clear_stop_signal();

enum class StopReason { none, signal, time_budget };
const char* stop_reason_name(StopReason reason);

// The step-boundary decision of one run.
class StopPolicy {
 public:
  // max_flags: all-reduces (max) two ints over every rank of the job in place (identity for one rank).
  // max_minutes: the wall-clock budget from `start` (0: none).
  using MaxAllReduce = std::function<void(int* flags, int count)>;
  StopPolicy(MaxAllReduce max_flags, double max_minutes,
             std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());

  // At a step boundary, after a step that took step_seconds on this rank: the reason to stop, the same
  // on every rank (collective: every rank calls it after every step).
  StopReason check(double step_seconds);
  // Records how long a checkpoint save took (part of the budget reserve).
  void record_save(double seconds);
  // Seconds since start on this rank.
  double elapsed_seconds() const;

 private:
  MaxAllReduce max_flags_;
  double budget_seconds_;
  std::chrono::steady_clock::time_point start_;
  double longest_step_ = 0, longest_save_ = -1;
};

}  // namespace strata
