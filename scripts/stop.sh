#!/usr/bin/env bash
# Stops the components started by scripts/run.sh (`make stop`), by their PID files in
# $AIRFLOW_HOME/run: SIGTERM to the component, wait up to MLOPS_STOP_TIMEOUT seconds (default 30)
# for it and its children to exit, then SIGKILL whatever is left of it. Removes the PID files.
# Safe when nothing runs. Never signals a process it has no PID file for.
#
# run.sh starts each component with setsid, so the component leads its own session and process
# group. "Children" means every process of that session: the process group alone would miss task
# processes, which Airflow's supervisor moves into process groups of their own.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
RUN_DIR=$AIRFLOW_HOME/run
TIMEOUT=${MLOPS_STOP_TIMEOUT:-30}
# Producers of work first (in parallel), then the servers they talk to (in parallel).
PHASES=("scheduler triggerer dag-processor" "api-server mlflow")

# alive PID: the process exists and is not a zombie.
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ -n $st && $st != Z* ]]; }
# session_alive SID: a live (non-zombie) process remains in the session. Linux does not hand out
# a PID that is still in use as a session or group ID, so these are the component's own processes.
session_alive() {
  local p
  for p in $(pgrep -s "$1" 2>/dev/null); do alive "$p" && return 0; done
  return 1
}
# session_is_ours SID: every live process of the session is an airflow/mlflow process (after a
# reboot a stale PID can name some daemon's session).
session_is_ours() {
  local p
  for p in $(pgrep -s "$1" 2>/dev/null); do alive "$p" && ! is_ours "$p" && return 1; done
  return 0
}
is_ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE 'airflow|mlflow|celery'; }

declare -A PID SID T0
# send_term NAME: validate the PID file and SIGTERM the component; records it for wait_stop.
send_term() {
  local name=$1 f=$RUN_DIR/$1.pid pid sid
  pid=$(<"$f")
  if ! [[ $pid =~ ^[0-9]+$ ]]; then
    echo "  $name: PID file without a PID removed"
    rm -f "$f"; return 0
  fi
  if ! alive "$pid"; then
    # The component is gone; children it left behind (e.g. LocalExecutor workers after a crash)
    # still belong to its session.
    if session_alive "$pid" && session_is_ours "$pid"; then
      echo "  $name: PID $pid is gone but processes of its session remain; stopping them"
      pkill -TERM -s "$pid" 2>/dev/null || true
      PID[$name]=$pid SID[$name]=$pid T0[$name]=$SECONDS
      return 0
    fi
    echo "  $name: not running (stale PID file removed)"
    rm -f "$f"; return 0
  fi
  if ! is_ours "$pid"; then
    echo "  $name: PID $pid is no longer an airflow/mlflow process; left alone, PID file removed"
    rm -f "$f"; return 0
  fi
  sid=$(ps -o sid= -p "$pid" | tr -d ' ')
  # Only ever signal a whole session that the component leads (run.sh starts it with setsid).
  [[ $sid == "$pid" ]] || sid=
  kill -TERM "$pid" 2>/dev/null || true
  PID[$name]=$pid SID[$name]=$sid T0[$name]=$SECONDS
}

# still_up NAME: the component, or any process left in its session, is alive.
still_up() {
  local pid=${PID[$1]} sid=${SID[$1]}
  alive "$pid" || { [[ -n $sid ]] && session_alive "$sid"; }
}

wait_stop() {  # wait_stop NAME...: wait for each, SIGKILL what outlives the timeout
  local name pid sid pending=("$@") left
  while :; do
    left=()
    for name in "${pending[@]}"; do
      if still_up "$name"; then
        left+=("$name")
      else
        rm -f "$RUN_DIR/$name.pid"
        echo "  $name: stopped (PID ${PID[$name]}, $((SECONDS - T0[$name])) s)"
      fi
    done
    pending=("${left[@]}")
    (( ${#pending[@]} )) || return 0
    (( SECONDS - T0[${pending[0]}] < TIMEOUT )) || break
    sleep 0.5
  done
  for name in "${pending[@]}"; do
    pid=${PID[$name]} sid=${SID[$name]}
    if [[ -n $sid ]]; then
      echo "  $name: still running after ${TIMEOUT}s, sending SIGKILL to its processes (session $sid)"
      pkill -KILL -s "$sid" 2>/dev/null || true
    else
      echo "  $name: still running after ${TIMEOUT}s, sending SIGKILL to PID $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
  sleep 0.5
}

shopt -s nullglob
files=("$RUN_DIR"/*.pid)
if (( ${#files[@]} == 0 )); then
  echo "stop: nothing to stop (no PID files in $RUN_DIR)"
  exit 0
fi
t_all=$SECONDS
echo "stop: stopping components of $AIRFLOW_HOME"
known=" ${PHASES[*]} "
extra=()
for f in "${files[@]}"; do  # anything else run.sh may start in future goes with the first phase
  name=$(basename "$f" .pid)
  [[ $known == *" $name "* ]] || extra+=("$name")
done
first=1
for phase in "${PHASES[@]}"; do
  names=()
  read -r -a candidates <<<"$phase"
  (( first )) && candidates+=("${extra[@]}")
  first=0
  for name in "${candidates[@]}"; do
    [[ -f $RUN_DIR/$name.pid ]] || continue
    send_term "$name"
    [[ -n ${PID[$name]:-} ]] && names+=("$name")
  done
  if (( ${#names[@]} )); then wait_stop "${names[@]}"; fi
done
echo "stop: done ($((SECONDS - t_all)) s)"
