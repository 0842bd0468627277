# Environment of the local MLOps stack (Airflow + MLflow), relative to this repository.
#
#   . .venv/bin/activate && . scripts/env.sh      # then: airflow ..., mlflow ..., pytest ...
#
# Sourced by users and by every script in scripts/. Each variable is set only when it is unset or
# empty, so a user or CI can override any of them by exporting it first. Works from any cwd (bash;
# zsh too). Prints nothing.
#
# Deliberate choices:
# - DAGS_ARE_PAUSED_AT_CREATION=True (Airflow's default): `make run` brings the stack up idle. A new
#   DAG starts paused, so the nightly schedule never fires training on this 2-core machine unasked.
#   Run the pipeline with `airflow dags test <dag> <date>`, a manual trigger, a backfill, or
#   `airflow dags unpause <dag>` to let the schedule run. Export it as False to auto-run new DAGs.
# - Every server listens on 127.0.0.1 only; scheduler and triggerer run with --skip-serve-logs
#   (the api-server reads task logs from the shared local log folder), the scheduler's optional
#   health-check server is bound to loopback in case someone enables it.
# - SimpleAuthManager with one demo user. Its password lives in $AIRFLOW_HOME/passwords.json,
#   generated per Airflow home on first `make run` (scripts/run.sh). Demo-only; never commit it.

if [ -n "${BASH_SOURCE[0]:-}" ]; then
  _mlops_env_src=${BASH_SOURCE[0]}
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_mlops_env_src=${(%):-%x}'
else
  echo "scripts/env.sh: source it from bash or zsh" >&2
  return 1 2>/dev/null || exit 1
fi

# _mlops_default NAME VALUE: export NAME=VALUE unless NAME already has a non-empty value.
_mlops_default() {
  eval "[ -n \"\${$1:-}\" ]" || eval "$1=\$2"
  export "$1"
}

_mlops_default MLOPS_ROOT "$(cd "$(dirname "$_mlops_env_src")/.." && pwd -P)"

# --- Profile: embedded (default; SQLite, LocalExecutor, local MLflow) or prod ---------------------
_mlops_default MLOPS_PROFILE embedded
case $MLOPS_PROFILE in
  embedded) ;;
  prod) . "$MLOPS_ROOT/scripts/profile-prod.sh" ;;
  *) echo "scripts/env.sh: MLOPS_PROFILE=$MLOPS_PROFILE; expected embedded or prod" >&2
     unset -f _mlops_default; unset _mlops_env_src; return 1 2>/dev/null || exit 1 ;;
esac

# --- Airflow -----------------------------------------------------------------------------------
_mlops_default AIRFLOW_HOME "$MLOPS_ROOT/.airflow"
_mlops_default AIRFLOW__CORE__DAGS_FOLDER "$MLOPS_ROOT/dags"
_mlops_default AIRFLOW__CORE__PLUGINS_FOLDER "$MLOPS_ROOT/plugins"
_mlops_default AIRFLOW__CORE__LOAD_EXAMPLES False
# Airflow's LocalExecutor, whose worker processes import pandas, scikit-learn, MLflow and GX once,
# so that every task (a fork of a worker) starts with them loaded (include/mlops/airflow/executors.py).
_mlops_default AIRFLOW__CORE__EXECUTOR mlops.airflow.executors.PreloadingLocalExecutor
# LocalExecutor starts this many worker processes up front (default 32): keep it small here.
_mlops_default AIRFLOW__CORE__PARALLELISM 4
_mlops_default AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "sqlite:///$AIRFLOW_HOME/airflow.db"
# SQLite only: writers wait up to 60 s for each other instead of failing (include/mlops/airflow/db.py).
case $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN in
  sqlite:*) _mlops_default AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS mlops.airflow.db.SQLITE_CONNECT_ARGS ;;
esac
# New/changed DAG files show up within 30 s instead of 300 s.
_mlops_default AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL 30
_mlops_default AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION True
# An idle scheduler loops every 0.5 s instead of 1 s: the next task of a run is queued up to
# 0.5 s sooner after the one before it ends (a backfill's days run one after the other), for
# about 2 % more of one core while idle (bench/idle_bench.py: 1.6 % at 1 s, 6.7 % at 0.25 s).
_mlops_default AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME 0.5
_mlops_default AIRFLOW__CORE__AUTH_MANAGER \
  airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
_mlops_default AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS admin:admin
_mlops_default AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE "$AIRFLOW_HOME/passwords.json"
# API server on loopback; tasks reach the Execution API through the same base URL.
_mlops_default AIRFLOW__API__HOST 127.0.0.1
_mlops_default AIRFLOW__API__PORT 8080
_mlops_default AIRFLOW__API__BASE_URL "http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT"
_mlops_default AIRFLOW__CORE__EXECUTION_API_SERVER_URL "$AIRFLOW__API__BASE_URL/execution/"
_mlops_default AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST 127.0.0.1
# Task logs readable by this user only (Airflow's defaults are 0o775 folders, 0o664 files; it sets
# them itself, whatever the umask). scripts/run.sh makes the rest of the home private (umask 077).
_mlops_default AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS 0o700
_mlops_default AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS 0o600

# --- Pipeline and MLflow -----------------------------------------------------------------------
_mlops_default MLOPS_HOME "$AIRFLOW_HOME/data"
_mlops_default MLOPS_MLFLOW_HOST 127.0.0.1
_mlops_default MLOPS_MLFLOW_PORT 5000
_mlops_default MLFLOW_TRACKING_URI "http://$MLOPS_MLFLOW_HOST:$MLOPS_MLFLOW_PORT"
# Without this `mlflow server` spawns extra job-worker processes.
_mlops_default MLFLOW_SERVER_ENABLE_JOB_EXECUTION false
_mlops_default GIT_PYTHON_REFRESH quiet
# MLflow's download progress bars go to stderr, which task logs show as error lines.
_mlops_default MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR false
# Nothing phones home: the machine has no internet, and a product should not report usage unasked.
_mlops_default MLFLOW_DISABLE_TELEMETRY true
_mlops_default GX_ANALYTICS_ENABLED False
_mlops_default AIRFLOW__USAGE_DATA_COLLECTION__ENABLED False

unset -f _mlops_default
unset _mlops_env_src
