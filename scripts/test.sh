#!/usr/bin/env bash
# Runs the test suite in a throw-away environment (`make test`, `make test ARGS="-k drift"`):
# a temporary AIRFLOW_HOME with its own SQLite metadata DB, MLOPS_HOME under it, and a SQLite
# MLflow store (no server needed). Arguments are passed to pytest. Exits with pytest's status
# (5 when no tests were collected). KEEP_TEST_HOME=1 keeps the temporary home for inspection.
# With no arguments (the whole suite) the rest runs on TEST_WORKERS pytest-xdist workers (2; a
# file's tests, and the live tier's, stay on one worker; each worker copies the migrated metadata
# DB, see tests/conftest.py) and tests/prod in a second pytest beside them; SERIAL_TESTS=1 runs
# the whole suite in one pytest instead.
# It never touches the `make run` stack in .airflow, whatever is exported in the shell.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)

t=$(now)
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .venv/bin/activate
echo "test: environment ready ($(since "$t") s)"

TEST_HOME=$(mktemp -d "${TMPDIR:-/tmp}/mlops-test.XXXXXX")
cleanup() {
  if [[ ${KEEP_TEST_HOME:-0} == 1 ]]; then
    echo "test: kept the test home $TEST_HOME (KEEP_TEST_HOME=1)"
  else
    rm -rf "$TEST_HOME"
  fi
}
trap cleanup EXIT

# The throw-away environment: set unconditionally, then scripts/env.sh fills in the rest
# (only what is still unset, so e.g. AIRFLOW__CORE__PARALLELISM can still be overridden).
export MLOPS_PROFILE=embedded  # the production profile has its own test (tests/prod)
export AIRFLOW_HOME=$TEST_HOME/airflow
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$AIRFLOW_HOME/airflow.db
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
export MLOPS_HOME=$AIRFLOW_HOME/data
export MLFLOW_TRACKING_URI=sqlite:///$TEST_HOME/mlflow.db
unset MLFLOW_REGISTRY_URI
# DAG runs here use dag.test(), which cannot finish a successful run of a DAG with a Deadline
# Alert in Airflow 3.3.2 (include/mlops/alerts/deadline.py); the live tests check the deadline.
export MLOPS_DEADLINE_ALERTS=${MLOPS_DEADLINE_ALERTS:-false}
# shellcheck disable=SC1091
. scripts/env.sh
mkdir -p "$AIRFLOW_HOME" "$MLOPS_HOME"

t=$(now)
if ! airflow db migrate >"$TEST_HOME/db-migrate.log" 2>&1; then
  echo "test: 'airflow db migrate' failed:" >&2
  tail -n 30 "$TEST_HOME/db-migrate.log" >&2
  exit 1
fi
# The migrated DB as it is before any test: tests that need a metadata DB without other tests'
# DAGs and runs copy it (the migrated_metadata_db fixture).
export TEST_MIGRATED_DB=$TEST_HOME/airflow-migrated.db
cp "$AIRFLOW_HOME/airflow.db" "$TEST_MIGRATED_DB"
echo "test: metadata DB migrated in $AIRFLOW_HOME ($(since "$t") s)"

t=$(now)
status=0
if [[ $# -eq 0 && ${SERIAL_TESTS:-0} != 1 ]]; then
  # The whole suite: the production-profile tier (its own stack on PostgreSQL, Redis and other
  # ports; mostly waiting on its scheduler and workers) runs beside the other tiers, in its own
  # pytest whose report follows the main one. SERIAL_TESTS=1 runs everything in one pytest.
  prod_log="$TEST_HOME/pytest-prod.log"
  echo "test: pytest tests/prod (beside the rest; its report follows)"
  python -m pytest tests/prod >"$prod_log" 2>&1 &
  prod_pid=$!
  workers=${TEST_WORKERS:-2}
  echo "test: pytest --ignore=tests/prod -n $workers --dist loadfile"
  python -m pytest --ignore=tests/prod -n "$workers" --dist loadfile || status=$?
  prod_status=0
  wait "$prod_pid" || prod_status=$?
  echo "test: ---------------- tests/prod ----------------"
  cat "$prod_log"
  echo "test: pytest tests/prod finished with exit code $prod_status"
  (( status == 0 )) && status=$prod_status
else
  echo "test: pytest $*"
  python -m pytest "$@" || status=$?
fi
echo "test: pytest finished with exit code $status ($(since "$t") s; $(since "$t_all") s in total)"
(( status == 5 )) && echo "test: exit code 5 means pytest collected no tests" >&2
exit "$status"
