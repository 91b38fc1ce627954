# common.sh — sourced by the end-to-end test scripts: a temporary work directory (removed on exit),
# `fail MSG`, `expect CODE CMD...` (runs CMD, which may be a shell function, keeping its stdout/stderr in
# out.txt and err.txt, and checks its exit code) and `contains FILE TEXT`. Hangs are bounded by the
# CTest TIMEOUT of each script, and every mpiexec in the scripts runs under `timeout`.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }

expect() {
  local want="$1"; shift
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  if [[ "$rc" != "$want" ]]; then
    echo "--- stdout"; cat out.txt; echo "--- stderr"; cat err.txt
    fail "'$*' exited $rc, expected $want"
  fi
}

contains() { grep -qF -- "$2" "$1" || { cat "$1"; fail "'$2' not in $1"; }; }
