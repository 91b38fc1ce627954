# slurm.sh — sourced by the Slurm end-to-end tests after common.sh: a real single-node Slurm on this
# shellcheck shell=bash
# machine (slurmctld + slurmd + munge on localhost, no systemd; /work/shared/recipes/local-slurm.md).
# Job credentials live 10 s instead of 120 s (AuthInfo=cred_expire=10): a requeued job may start again
# only once its old credential expired ("Job credential revoked" before that).
#   slurm_start   installs slurm-wlm and munge with apt when missing (exit 77 = skipped, with the reason,
#                 only where that is impossible), starts munged when it is not running and both Slurm
#                 daemons with a private configuration under $WORK/slurm, and waits until srun works.
#                 The daemons are stopped on exit (also on failure).
#   slurm_wait_job ID STATE...   polls until job ID reaches one of the states (squeue/scontrol).
#   slurm_state ID               the job's state (PENDING, RUNNING, COMPLETED, ...).
skip() { echo "SKIPPED: $*"; exit 77; }

slurm_install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  [[ $(id -u) == 0 ]] || skip "Slurm is not installed and installing it needs root (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null || skip "Slurm is not installed and this system has no apt-get to install it"
  echo "installing slurm-wlm and munge with apt"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; }; } ||
    skip "apt-get install slurm-wlm munge failed (no package source reachable?)"
}

slurm_stop() {
  local status=$?
  if [[ $status != 0 && $status != 77 && -d ${SLURM_DIR:-/nonexistent}/log ]]; then
    for log in "$SLURM_DIR"/log/*.log; do echo "--- last lines of $log"; tail -n 25 "$log"; done
  fi
  if [[ -n ${SLURM_CONF:-} && -f ${SLURM_CONF} ]]; then
    scontrol shutdown >/dev/null 2>&1 || true
    for pidfile in "$SLURM_DIR"/slurmctld.pid "$SLURM_DIR"/slurmd.pid; do
      local pid
      pid=$(cat "$pidfile" 2>/dev/null) || continue
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
  if [[ -n ${MUNGED_STARTED:-} ]]; then kill "$MUNGED_STARTED" 2>/dev/null || true; fi
  rm -rf "$WORK"
}

slurm_start() {
  slurm_install
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    skip "a slurmctld or slurmd already runs on this machine; this test starts its own"
  fi
  [[ -f /etc/munge/munge.key ]] || { mungekey -c 2>/dev/null || /usr/sbin/create-munge-key -f >/dev/null 2>&1; } || \
    fail "no /etc/munge/munge.key and it could not be created"
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
    MUNGED_STARTED=$(cat /run/munge/munged.pid 2>/dev/null || pgrep -n -x munged)
    for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  SLURM_DIR="$WORK/slurm"
  mkdir -p "$SLURM_DIR"/{state,spool,log}
  local host
  host=$(hostname -s)
  cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=strata-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
SlurmdParameters=config_overrides
EnforcePartLimits=ALL
KillWait=5
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=16 Boards=1 SocketsPerBoard=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$SLURM_DIR/slurm.conf"
  trap slurm_stop EXIT
  slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (log: $(tail -5 "$SLURM_DIR/log/slurmctld.log" 2>/dev/null))"
  slurmd -f "$SLURM_CONF" || fail "slurmd did not start (log: $(tail -5 "$SLURM_DIR/log/slurmd.log" 2>/dev/null))"
  local ok=0
  for _ in $(seq 1 300); do
    if timeout 10 srun -n1 true 2>/dev/null; then ok=1; break; fi
    sleep 0.2
  done
  [[ $ok == 1 ]] || { tail -20 "$SLURM_DIR"/log/*.log; fail "srun does not work on the test Slurm after 60 s"; }
  echo "Slurm $(sinfo -V) runs: $(sinfo -h -o '%N %c CPUs %T')"
}

slurm_state() { scontrol show job -o "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }

slurm_wait_job() {  # slurm_wait_job ID STATE... (at most 10 minutes; the ctest TIMEOUT bounds it too)
  local id=$1 state
  shift
  for _ in $(seq 1 3000); do
    state=$(slurm_state "$id")
    for want in "$@"; do [[ $state == "$want" ]] && return 0; done
    sleep 0.2
  done
  fail "job $id did not reach $* (state $state)"
}
