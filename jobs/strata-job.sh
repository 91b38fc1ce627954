# strata-job.sh — sourced by the job scripts of this folder (train.sbatch, mpirun-train.sh); not run alone.
# shellcheck shell=bash
# Defines:
#   STRATA_EXIT_STOPPED  75, strata-train's exit code for "stopped early by a signal or train.max_minutes,
#                        checkpoint saved: run again to resume" (src/stop_signals.h)
#   strata_run CMD...    runs CMD (srun/mpirun + strata-train) in the background and waits for it; a SIGUSR1
#                        or SIGTERM sent to this shell (Slurm's `--signal=B:USR1@N`, `scancel --batch
#                        --signal=USR1`, a preemption's SIGTERM, kill) is passed on as SIGUSR1 to the
#                        launcher, which forwards it to every rank; the ranks agree at the next step
#                        boundary, save a checkpoint and exit 75. Returns CMD's exit code.
# shellcheck disable=SC2034  # used by the scripts that source this file
STRATA_EXIT_STOPPED=75

strata_log() { echo "strata-job [$(date '+%F %T')]: $*" >&2; }

strata_run() {
  "$@" &
  local pid=$! rc=0
  # shellcheck disable=SC2064  # the pid is fixed now
  trap "strata_log 'SIGUSR1 received: asking the ranks to save a checkpoint and stop'; kill -USR1 $pid 2>/dev/null" USR1
  # shellcheck disable=SC2064
  trap "strata_log 'SIGTERM received: asking the ranks to save a checkpoint and stop'; kill -USR1 $pid 2>/dev/null" TERM
  # A trapped signal interrupts `wait` (status > 128) while CMD still runs: wait again until it is gone;
  # bash keeps the status of a finished child for the last `wait`.
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
  wait "$pid" || rc=$?
  trap - USR1 TERM
  return "$rc"
}
