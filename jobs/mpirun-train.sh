#!/bin/bash
# mpirun-train.sh — Strata training with Open MPI's mpirun, for clusters without Slurm (or one node):
#   jobs/mpirun-train.sh [-H HOSTFILE] [-n RANKS_PER_NODE] [-N NODES] CONFIG.ini [--section.key=value ...]
#     -H HOSTFILE        hosts, one per line (`node01 slots=8`); default: this machine only
#     -n RANKS_PER_NODE  MPI ranks per node (one per GPU on GPU nodes); default: 1
#     -N NODES           nodes to use from the hostfile; default: all of its lines
# Rank, local rank and world come from MPI (the start-up log shows them against OMPI_COMM_WORLD_*).
# Like train.sbatch it resumes from <checkpoint.dir>/latest (--checkpoint.load=auto), and a SIGUSR1 or
# SIGTERM sent to this script is forwarded as SIGUSR1 to every rank: they save a checkpoint at the next
# step boundary and the script exits 75 (run it again to resume). Exit codes are strata-train's.
# Environment: STRATA_TRAIN (default: strata-train on PATH), MPIRUN (default: mpirun),
# STRATA_MPIRUN_ARGS (extra mpirun options, e.g. "--bind-to none" or "-x CUDA_VISIBLE_DEVICES").
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/strata-job.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | grep -v '^set ' | sed 's/^# \{0,1\}//'; exit 2; }
HOSTFILE="" PER_NODE=1 NODES=""
while getopts "H:n:N:h" opt; do
  case $opt in
    H) HOSTFILE=$OPTARG ;;
    n) PER_NODE=$OPTARG ;;
    N) NODES=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
[[ $PER_NODE =~ ^[1-9][0-9]*$ ]] || { echo "mpirun-train.sh: -n must be a positive number of ranks per node, found '$PER_NODE'" >&2; exit 2; }
CONFIG=$1
shift

ARGS=(--map-by "ppr:${PER_NODE}:node")
if [[ -n $HOSTFILE ]]; then
  [[ -r $HOSTFILE ]] || { echo "mpirun-train.sh: hostfile '$HOSTFILE' cannot be read" >&2; exit 2; }
  hosts=$(grep -cv '^\s*\(#\|$\)' "$HOSTFILE")
  NODES=${NODES:-$hosts}
  ARGS+=(--hostfile "$HOSTFILE")
fi
NODES=${NODES:-1}
ARGS+=(-np $((NODES * PER_NODE)))
# shellcheck disable=SC2206  # word splitting of user options is wanted
ARGS+=(${STRATA_MPIRUN_ARGS:-})
TRAIN=${STRATA_TRAIN:-strata-train}

strata_log "$((NODES * PER_NODE)) ranks ($NODES nodes x $PER_NODE): ${MPIRUN:-mpirun} ${ARGS[*]} $TRAIN $CONFIG $*"
rc=0
strata_run "${MPIRUN:-mpirun}" "${ARGS[@]}" "$TRAIN" "$CONFIG" --checkpoint.load=auto "$@" || rc=$?
case $rc in
  0) strata_log "finished: train.steps reached" ;;
  "$STRATA_EXIT_STOPPED") strata_log "stopped with a checkpoint saved: run this command again to resume from latest" ;;
  *) strata_log "strata-train failed with exit code $rc" ;;
esac
exit "$rc"
