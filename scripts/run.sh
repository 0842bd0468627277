#!/usr/bin/env bash
# Starts the local stack: MLflow tracking server + Airflow api-server, scheduler, dag-processor and
# triggerer, each in the background on 127.0.0.1 (`make run`). Safe to run again: a component whose
# PID file points at a live process is left alone, the DB migration and settings load are repeated
# (both are idempotent, so edits to airflow_settings*.yaml are applied).
#
# MLOPS_PROFILE=prod (`make run PROFILE=prod`) starts the production profile instead: Airflow on
# PostgreSQL with the CeleryExecutor on Redis and two Celery workers (queues `default` and
# `training`), MLflow with basic-auth on PostgreSQL; settings from .env (see .env.example and
# scripts/profile-prod.sh). It refuses to start while a password or secret is missing.
#
#   scripts/run.sh            start what is not running, wait until healthy, print how to use it
#   scripts/run.sh status     which components run (PID, memory) and the health endpoints (`make status`)
#   scripts/run.sh logs [N]   last N (default 20) lines of each component log (`make logs`)
#   scripts/run.sh commands   each component's command line and own environment, one JSON per line
#
# Logs: $AIRFLOW_HOME/logs/<component>.log (the previous one is kept as .log.1).
# PIDs: $AIRFLOW_HOME/run/<component>.pid; each component leads its own session (setsid), which
# scripts/stop.sh uses to stop it with all its children.
# Tunables: MLOPS_START_TIMEOUT (s, default 240), MLOPS_MLFLOW_WORKERS (default 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# Private by default: everything the stack creates (Airflow home, logs, SQLite databases, MLflow
# store, lake) is readable by this user only (folders 700, files 600). Airflow's task log handler
# sets its own modes: scripts/env.sh sets them to the same.
umask 077

COMPONENTS=(mlflow api-server scheduler dag-processor triggerer)
WORKERS=(worker-default worker-training)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

setup_env() {
  # shellcheck disable=SC1091
  . .venv/bin/activate
  # shellcheck disable=SC1091
  . scripts/env.sh
  LOG_DIR=$AIRFLOW_HOME/logs
  RUN_DIR=$AIRFLOW_HOME/run
  MLFLOW_DIR=$AIRFLOW_HOME/mlflow
  AIRFLOW_URL=$AIRFLOW__API__BASE_URL
  MLFLOW_URL=http://$MLOPS_MLFLOW_HOST:$MLOPS_MLFLOW_PORT
  if [[ $MLOPS_PROFILE == prod ]]; then COMPONENTS+=("${WORKERS[@]}"); fi
}

# Command line of a component (an array in CMD) and the environment only it gets (CMD_ENV).
# Secrets never go on a command line (ps shows it): the prod MLflow server reads its backend store
# URI from MLFLOW_BACKEND_STORE_URI and its auth settings from MLFLOW_AUTH_CONFIG_PATH.
# Task logs: every component shares $AIRFLOW_HOME/logs, so no worker serves logs over HTTP.
component_cmd() {
  CMD_ENV=()
  case $1 in
    mlflow)
      if [[ $MLOPS_PROFILE == prod ]]; then
        CMD=(mlflow server --app-name basic-auth --host "$MLOPS_MLFLOW_HOST" --port "$MLOPS_MLFLOW_PORT"
             --workers "${MLOPS_MLFLOW_WORKERS:-2}" --artifacts-destination "$MLOPS_MLFLOW_ARTIFACTS")
      else
        CMD=(mlflow server --host "$MLOPS_MLFLOW_HOST" --port "$MLOPS_MLFLOW_PORT"
             --workers "${MLOPS_MLFLOW_WORKERS:-1}"
             --backend-store-uri "sqlite:///$MLFLOW_DIR/mlflow.db"
             --artifacts-destination "$MLFLOW_DIR/artifacts")
      fi ;;
    api-server) CMD=(airflow api-server -H "$AIRFLOW__API__HOST" -p "$AIRFLOW__API__PORT") ;;
    scheduler) CMD=(airflow scheduler --skip-serve-logs) ;;
    dag-processor) CMD=(python -m mlops.airflow.dag_processor) ;;
    triggerer) CMD=(airflow triggerer --skip-serve-logs) ;;
    worker-default)
      CMD_ENV=(MLOPS_WORKER_NAME=worker-default)
      CMD=(airflow celery worker --queues "$MLOPS_DEFAULT_QUEUE" --concurrency "${MLOPS_DEFAULT_CONCURRENCY:-2}"
           --celery-hostname "default@%h" --skip-serve-logs) ;;
    worker-training)
      CMD_ENV=(MLOPS_WORKER_NAME=worker-training)
      CMD=(airflow celery worker --queues "$MLOPS_TRAINING_QUEUE,$MLOPS_MODEL_QUEUE" --concurrency "${MLOPS_TRAINING_CONCURRENCY:-2}"
           --celery-hostname "training@%h" --skip-serve-logs) ;;
    *) echo "run.sh: unknown component $1" >&2; return 1 ;;
  esac
}

# live_pid COMPONENT: print the PID from the PID file if that process is alive and is ours.
live_pid() {
  local f=$RUN_DIR/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against PID reuse: the process must still be an airflow/mlflow command.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'airflow|mlflow|celery' || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Before starting anything: the ports of the servers that are not running yet must be free.
check_ports() {
  local name host port
  for name in mlflow api-server; do
    live_pid "$name" >/dev/null && continue
    case $name in
      mlflow) host=$MLOPS_MLFLOW_HOST port=$MLOPS_MLFLOW_PORT ;;
      api-server) host=$AIRFLOW__API__HOST port=$AIRFLOW__API__PORT ;;
    esac
    if port_in_use "$host" "$port"; then
      echo "run.sh: $host:$port is already in use by another process, so $name cannot start." >&2
      echo "        Find it with: ss -ltnp 'sport = :$port'. Stop it, or use other ports by exporting" >&2
      echo "        AIRFLOW__API__PORT / MLOPS_MLFLOW_PORT before 'make run' and '. scripts/env.sh'." >&2
      exit 1
    fi
  done
}

# clear_leftovers COMPONENT: a component that died can leave children (e.g. LocalExecutor workers)
# in its session; end them before starting a new one (the session ID is the old PID, see stop.sh).
clear_leftovers() {
  local f=$RUN_DIR/$1.pid old i
  [[ -s $f ]] && old=$(<"$f") && [[ $old =~ ^[0-9]+$ ]] || return 0
  ps -o stat= -s "$old" 2>/dev/null | grep -qv '^Z' || return 0
  # Only if every process of that session is ours (after a reboot the PID may name another session).
  ps -o stat=,args= -s "$old" 2>/dev/null | grep -v '^Z' | grep -qvE 'airflow|mlflow|celery' && return 0
  echo "  $1: ending processes left over from the previous $1 (session $old)"
  pkill -TERM -s "$old" 2>/dev/null || true
  for i in {1..20}; do ps -o stat= -s "$old" 2>/dev/null | grep -qv '^Z' || return 0; sleep 0.5; done
  pkill -KILL -s "$old" 2>/dev/null || true
}

start_component() {
  local name=$1 pid log=$LOG_DIR/$1.log
  if pid=$(live_pid "$name"); then
    echo "  $name: already running (PID $pid), left alone"
    return 0
  fi
  component_cmd "$name"
  clear_leftovers "$name"
  [[ -f $log ]] && mv -f "$log" "$log.1"
  # setsid: the component leads its own session, so stop.sh can end it with all its children.
  setsid env "${CMD_ENV[@]}" "${CMD[@]}" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$RUN_DIR/$name.pid"
  echo "  $name: started (PID $pid), log $log"
}

# Health of the Airflow components, from /api/v2/monitor/health: prints "name=status ..." lines.
airflow_health() {
  local body
  body=$(curl -sS --max-time 5 "$AIRFLOW_URL/api/v2/monitor/health" 2>/dev/null) && [[ -n $body ]] || return 1
  python -c '
import json, sys
h = json.loads(sys.argv[1])
for key in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
    print(key + "=" + ((h.get(key) or {}).get("status") or "unknown"))
' "$body" 2>/dev/null
}

# api_token: a JWT for the first SimpleAuthManager user, from the demo passwords file.
api_token() {
  local f=$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE user=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%[:,]*}
  [[ -s $f ]] || return 1
  python -c 'import json, sys; print(json.dumps({"username": sys.argv[1], "password": json.load(open(sys.argv[2]))[sys.argv[1]]}))' \
      "$user" "$f" \
    | curl -fsS --max-time 10 -H 'Content-Type: application/json' -d @- "$AIRFLOW_URL/auth/token" 2>/dev/null \
    | python -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null
}

mlflow_health() { curl -fsS --max-time 5 "$MLFLOW_URL/health" 2>/dev/null; }

log_of() { case $1 in
  metadatabase) echo "$LOG_DIR/api-server.log" ;;
  dag_processor) echo "$LOG_DIR/dag-processor.log" ;;
  *) echo "$LOG_DIR/$1.log" ;;
esac; }

fail_start() {  # fail_start COMPONENT MESSAGE
  local log
  log=$(log_of "$1")
  echo >&2
  echo "run.sh: $2" >&2
  echo "        Log: $log (last lines below). Other components keep running: 'make stop' ends them." >&2
  [[ -f $log ]] && tail -n 25 "$log" | sed 's/^/        | /' >&2
  exit 1
}

wait_healthy() {
  local timeout=${MLOPS_START_TIMEOUT:-240} t0=$SECONDS name health bad culprit comp status
  while :; do
    for name in "${COMPONENTS[@]}"; do
      live_pid "$name" >/dev/null || fail_start "$name" "$name exited during start-up."
    done
    bad= culprit=
    if ! mlflow_health >/dev/null; then bad="mlflow (no answer from $MLFLOW_URL/health)"; culprit=mlflow; fi
    for name in "${COMPONENTS[@]}"; do
      # A Celery worker logs "... ready." once it consumes its queues.
      [[ $name == worker-* ]] || continue
      grep -q ' ready\.' "$LOG_DIR/$name.log" 2>/dev/null || { bad+="${bad:+, }$name (not ready)"; culprit=${culprit:-$name}; }
    done
    if health=$(airflow_health) && [[ -n $health ]]; then
      while IFS== read -r comp status; do
        [[ $status == healthy ]] && continue
        bad+="${bad:+, }$comp=$status"; culprit=${culprit:-$comp}
      done <<<"$health"
    else
      bad+="${bad:+, }api-server (no answer from $AIRFLOW_URL/api/v2/monitor/health)"
      culprit=${culprit:-api-server}
    fi
    [[ -z $bad ]] && return 0
    (( SECONDS - t0 < timeout )) || fail_start "$culprit" "not healthy after ${timeout}s: $bad"
    sleep 2
  done
}

# A random password for every SimpleAuthManager user that has none yet (the embedded demo login
# only). Airflow itself would generate the missing ones at start-up and print them into the
# api-server log; so every user gets one here first, and the file stays private (600).
ensure_passwords_file() {
  local f=$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE added
  mkdir -p "$(dirname "$f")"
  added=$(python - "$f" <<'EOF'
import json, os, secrets, string, sys
path = sys.argv[1]
users = [u.split(":")[0].strip() for u in os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",") if u.strip()]
try:
    with open(path) as f:
        pw = json.loads(f.read().strip() or "{}")
except FileNotFoundError:
    pw = {}
alphabet = string.ascii_letters + string.digits
missing = [u for u in users if u not in pw]
for u in missing:
    pw[u] = "".join(secrets.choice(alphabet) for _ in range(20))
if missing:
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(pw, f)
        f.write("\n")
    os.replace(tmp, path)
os.chmod(path, 0o600)
print(" ".join(missing))
EOF
  )
  [[ -n $added ]] && echo "  generated demo passwords for: $added (in $f)"
  return 0
}

# Make the Airflow home private: new files are (umask 077 above); this fixes what an earlier
# start or another tool left with wider modes.
private_home() {
  chmod 700 "$AIRFLOW_HOME"
  find "$AIRFLOW_HOME" -perm /077 -exec chmod go-rwx {} +
}

cmd_start() {
  local t_all t
  t_all=$(now)
  t=$(now); bash scripts/bootstrap.sh; setup_env
  echo "run: environment ready ($(since "$t") s); AIRFLOW_HOME=$AIRFLOW_HOME"
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$MLOPS_HOME" "$MLFLOW_DIR/artifacts"
  private_home
  if [[ $MLOPS_PROFILE == prod ]]; then
    echo "run: production profile (settings: $MLOPS_ENV_FILE and the environment)"
    python scripts/prod_setup.py check --create-databases || exit 1
  else
    ensure_passwords_file
  fi
  check_ports
  # MLflow needs nothing from Airflow and is the slowest to come up: start it first.
  echo "run: starting components"
  start_component mlflow
  if [[ $MLOPS_PROFILE == prod ]]; then
    python scripts/prod_setup.py mlflow-user >"$LOG_DIR/mlflow-user.log" 2>&1 \
      || fail_start mlflow "could not set up the pipeline's MLflow user: $(tail -n 3 "$LOG_DIR/mlflow-user.log")"
  fi

  t=$(now)
  airflow db migrate >"$LOG_DIR/db-migrate.log" 2>&1 \
    || { echo "run.sh: 'airflow db migrate' failed (MLflow is up: 'make stop' ends it); see $LOG_DIR/db-migrate.log:" >&2
         tail -n 25 "$LOG_DIR/db-migrate.log" >&2; exit 1; }
  echo "run: metadata DB migrated ($(since "$t") s)"
  if [[ $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN == sqlite:///* ]]; then
    # Write-ahead logging: readers never block the writer (the setting stays with the file).
    python -m mlops.airflow.db "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#sqlite:///}" >/dev/null
  fi
  t=$(now)
  python scripts/load_settings.py 2>"$LOG_DIR/load-settings.log" \
    || { echo "run.sh: loading airflow_settings.yaml failed (MLflow is up: 'make stop' ends it); see $LOG_DIR/load-settings.log:" >&2
         tail -n 25 "$LOG_DIR/load-settings.log" >&2; exit 1; }
  echo "run: settings loaded ($(since "$t") s)"

  for name in "${COMPONENTS[@]:1}"; do start_component "$name"; done
  t=$(now)
  echo "run: waiting for $AIRFLOW_URL/api/v2/monitor/health and $MLFLOW_URL/health (timeout ${MLOPS_START_TIMEOUT:-240}s)"
  wait_healthy
  echo "run: all healthy ($(since "$t") s waiting; $(since "$t_all") s in total)"

  local user=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%,*}; user=${user%%:*}
  cat <<EOF

  Airflow UI/API  $AIRFLOW_URL          (API docs: $AIRFLOW_URL/docs)
  MLflow UI       $MLFLOW_URL
$(login_text "$user")
  New DAGs start paused (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=$AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION).

  Use the CLI in this stack's environment:
    . .venv/bin/activate && $([[ $MLOPS_PROFILE == prod ]] && echo "MLOPS_PROFILE=prod "). scripts/env.sh
    airflow dags list                 airflow dags list-import-errors
    airflow dags test mlops_nightly_training 2013-03-01
    airflow dags unpause mlops_nightly_training

  make status | make logs | make stop
EOF
}

login_text() {
  if [[ $MLOPS_PROFILE == prod ]]; then
    echo "  Login           users $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS; passwords are your settings'"
    echo "                  MLOPS_AIRFLOW_PASSWORD_<USER> ($MLOPS_ENV_FILE or the environment)"
    echo "  Celery workers  ${WORKERS[*]} (queues $MLOPS_DEFAULT_QUEUE; $MLOPS_TRAINING_QUEUE and $MLOPS_MODEL_QUEUE)"
    echo "  MLflow login    required (basic-auth); the pipeline signs in as '$MLFLOW_TRACKING_USERNAME'"
  else
    echo "  Login           user '$1'; password in $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    echo "                  (demo-only login of Airflow's embedded SimpleAuthManager, generated for this"
    echo "                  Airflow home; show it with: cat $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE)"
  fi
}

# Each component's command line and own environment, one JSON object per line (the test that keeps
# docker-compose.yaml in step with what runs here reads it).
cmd_commands() {
  setup_env
  local name
  for name in "${COMPONENTS[@]}"; do
    component_cmd "$name"
    python -c 'import json, sys; a = sys.argv[1:]; n = int(a[1]); print(json.dumps({"name": a[0], "env": a[2:2 + n], "argv": a[2 + n:]}))' \
      "$name" "${#CMD_ENV[@]}" "${CMD_ENV[@]}" "${CMD[@]}"
  done
}

cmd_status() {
  setup_env
  local name pid rss any=0
  printf '%-14s %-8s %-10s %s\n' COMPONENT PID RSS_MB LOG
  for name in "${COMPONENTS[@]}"; do
    if pid=$(live_pid "$name"); then
      any=1
      rss=$(ps -o rss= -s "$pid" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s / 1024 }')
      printf '%-14s %-8s %-10s %s\n' "$name" "$pid" "$rss" "$LOG_DIR/$name.log"
    else
      printf '%-14s %-8s %-10s %s\n' "$name" "-" "-" "not running"
    fi
  done
  echo "(RSS summed over each component's processes (its session); pages shared between processes count in each)"
  echo
  local h
  if h=$(airflow_health) && [[ -n $h ]]; then
    echo "Airflow $AIRFLOW_URL/api/v2/monitor/health: $(tr '\n' ' ' <<<"$h")"
  else
    echo "Airflow $AIRFLOW_URL/api/v2/monitor/health: no answer"
  fi
  if h=$(mlflow_health); then
    echo "MLflow  $MLFLOW_URL/health: $h"
  else
    echo "MLflow  $MLFLOW_URL/health: no answer"
  fi
  local tok
  if tok=$(api_token) && [[ -n $tok ]]; then
    curl -fsS --max-time 10 -H "Authorization: Bearer $tok" "$AIRFLOW_URL/api/v2/dags?limit=100" | python -c '
import json, sys
d = json.load(sys.stdin)
names = ", ".join(x["dag_id"] + (" (paused)" if x["is_paused"] else "") for x in d["dags"])
print("DAGs: %d%s" % (d["total_entries"], ": " + names if names else ""))' 2>/dev/null \
      || echo "DAGs: could not list them through the API"
    curl -fsS --max-time 10 -H "Authorization: Bearer $tok" "$AIRFLOW_URL/api/v2/importErrors?limit=100" | python -c '
import json, sys
d = json.load(sys.stdin)
n = d["total_entries"]
files = ", ".join(e["filename"] for e in d["import_errors"])
print("DAG import errors: %d%s" % (n, " (%s): see airflow dags list-import-errors" % files if n else ""))' 2>/dev/null \
      || echo "DAG import errors: could not list them through the API"
  fi
  (( any )) || echo "Nothing runs. Start with: make run"
}

cmd_logs() {
  setup_env
  local n=${1:-20} f found=0
  for f in "$LOG_DIR"/{mlflow,api-server,scheduler,dag-processor,triggerer,worker-default,worker-training}.log; do
    [[ -f $f ]] || continue
    found=1
    echo "==> $f <=="
    tail -n "$n" "$f"
    echo
  done
  (( found )) || echo "No component logs under $LOG_DIR yet. Start with: make run"
}

case ${1:-start} in
  start) cmd_start ;;
  status) cmd_status ;;
  logs) cmd_logs "${2:-}" ;;
  commands) cmd_commands ;;
  *) echo "usage: scripts/run.sh [start|status|logs [N]|commands]" >&2; exit 2 ;;
esac
