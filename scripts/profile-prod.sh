# The production profile's environment (MLOPS_PROFILE=prod), sourced by scripts/env.sh before its
# defaults. Reads the settings file ($MLOPS_ENV_FILE, default .env at the repository root; the same
# file docker compose reads, see .env.example): a variable already exported in the shell wins over
# the file, as with docker compose. Then derives Airflow's and MLflow's settings from it.
#
# Nothing here has a default password or secret: scripts/prod_setup.py check refuses to start the
# profile while one is missing. The values below that name hosts are for one host (127.0.0.1);
# docker-compose.yaml sets the same keys with the service names as hosts.

_mlops_env_file=${MLOPS_ENV_FILE:-$MLOPS_ROOT/.env}
if [ -f "$_mlops_env_file" ]; then
  # KEY=VALUE lines; blank lines and # comments skipped; optional matching quotes around VALUE.
  while IFS= read -r _mlops_line || [ -n "$_mlops_line" ]; do
    case $_mlops_line in '' | '#'*) continue ;; esac
    _mlops_key=${_mlops_line%%=*}
    _mlops_val=${_mlops_line#*=}
    case $_mlops_key in *[!A-Za-z0-9_]* | '') continue ;; esac
    case $_mlops_val in \"*\") _mlops_val=${_mlops_val#\"}; _mlops_val=${_mlops_val%\"} ;; \'*\') _mlops_val=${_mlops_val#\'}; _mlops_val=${_mlops_val%\'} ;; esac
    eval "[ -n \"\${$_mlops_key+x}\" ]" || { eval "$_mlops_key=\$_mlops_val"; export "$_mlops_key"; }
  done <"$_mlops_env_file"
  unset _mlops_line _mlops_key _mlops_val
fi
export MLOPS_ENV_FILE=$_mlops_env_file
unset _mlops_env_file

_mlops_prod() { eval "[ -n \"\${$1:-}\" ]" || eval "$1=\$2"; export "$1"; }

# --- Where things are (one host by default) ------------------------------------------------------
_mlops_prod AIRFLOW_HOME "$MLOPS_ROOT/.airflow-prod"
_mlops_prod POSTGRES_HOST 127.0.0.1
_mlops_prod POSTGRES_PORT 5432
_mlops_prod MLOPS_AIRFLOW_DB mlops_airflow
_mlops_prod MLOPS_MLFLOW_DB mlops_mlflow
_mlops_prod MLOPS_MLFLOW_AUTH_DB mlops_mlflow_auth
_mlops_prod MLOPS_METADATA_DB mlops_metadata
_mlops_prod MLOPS_PREDICTIONS_DB mlops_predictions
_mlops_prod REDIS_HOST 127.0.0.1
_mlops_prod REDIS_PORT 6379
_mlops_prod REDIS_DB 0
_mlops_prod MLOPS_MLFLOW_HOST 127.0.0.1
_mlops_prod MLOPS_MLFLOW_PORT 5000
_mlops_prod MLOPS_MLFLOW_WORKERS 2
# Celery queues: training and evaluation go to their own queue (and so to the worker that serves it);
# so do a dataset's other model steps, on a queue of their own served by the same worker, so that
# they never wait behind the days ahead in the default queue (mlops.airflow.defaults.model_queue).
_mlops_prod MLOPS_DEFAULT_QUEUE default
_mlops_prod MLOPS_TRAINING_QUEUE training
_mlops_prod MLOPS_MODEL_QUEUE model

# --- Airflow on PostgreSQL + CeleryExecutor on Redis ---------------------------------------------
# Passwords go into URLs as they are: scripts/prod_setup.py check refuses characters that would
# need URL-encoding.
_mlops_pg="${POSTGRES_USER:-}:${POSTGRES_PASSWORD:-}@$POSTGRES_HOST:$POSTGRES_PORT"
_mlops_prod AIRFLOW__CORE__EXECUTOR CeleryExecutor
_mlops_prod AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "postgresql+psycopg2://$_mlops_pg/$MLOPS_AIRFLOW_DB"
_mlops_prod AIRFLOW__CELERY__BROKER_URL "redis://${REDIS_PASSWORD:+:$REDIS_PASSWORD@}$REDIS_HOST:$REDIS_PORT/$REDIS_DB"
_mlops_prod AIRFLOW__CELERY__RESULT_BACKEND "db+postgresql://$_mlops_pg/$MLOPS_AIRFLOW_DB"
# Celery's defaults plus the ML libraries imported once per worker (mlops.airflow.celery_config).
_mlops_prod AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS mlops.airflow.celery_config.CELERY_CONFIG
_mlops_prod AIRFLOW__OPERATORS__DEFAULT_QUEUE "$MLOPS_DEFAULT_QUEUE"
_mlops_prod AIRFLOW__CORE__FERNET_KEY "${MLOPS_FERNET_KEY:-}"
# Every component must share the JWT secret (task tokens, UI/API tokens) and the API secret key.
_mlops_prod AIRFLOW__API_AUTH__JWT_SECRET "${MLOPS_JWT_SECRET:-}"
_mlops_prod AIRFLOW__API__SECRET_KEY "${MLOPS_API_SECRET_KEY:-}"
# Metadata the product owns (the alert delivery log): the connection mlops_metadata on PostgreSQL.
_mlops_prod AIRFLOW_CONN_MLOPS_METADATA "postgresql://$_mlops_pg/$MLOPS_METADATA_DB"
# Users and roles come from the settings file (MLOPS_AIRFLOW_USERS=name:role,...), passwords from
# MLOPS_AIRFLOW_PASSWORD_<NAME>; scripts/prod_setup.py writes the passwords file (mode 600).
_mlops_prod AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS "${MLOPS_AIRFLOW_USERS:-}"
# TaskInstance.hostname names the worker (MLOPS_WORKER_NAME, set per worker) when several share a host.
_mlops_prod AIRFLOW__CORE__HOSTNAME_CALLABLE mlops.airflow.hostname.worker_hostname
_mlops_prod AIRFLOW__CORE__PARALLELISM 8
_mlops_prod AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION True
# Promotions wait for a person's approval in this profile.
_mlops_prod MLOPS_REQUIRE_APPROVAL true

# --- Prediction store: the scoring DAG's SQL table in PostgreSQL ----------------------------------
# The Airflow connection mlops_predictions (scoring.conn_id of the dataset configs); an environment
# connection wins over the embedded default that airflow_settings.yaml declares.
_mlops_prod AIRFLOW_CONN_MLOPS_PREDICTIONS "postgresql://$_mlops_pg/$MLOPS_PREDICTIONS_DB"

# --- MLflow tracking server: PostgreSQL backend, served artifacts, basic-auth --------------------
_mlops_prod MLFLOW_BACKEND_STORE_URI "postgresql://$_mlops_pg/$MLOPS_MLFLOW_DB"
_mlops_prod MLOPS_MLFLOW_AUTH_DB_URI "postgresql://$_mlops_pg/$MLOPS_MLFLOW_AUTH_DB"
_mlops_prod MLOPS_MLFLOW_ARTIFACTS "$AIRFLOW_HOME/mlflow/artifacts"
_mlops_prod MLFLOW_AUTH_CONFIG_PATH "$AIRFLOW_HOME/run/mlflow-auth.ini"
_mlops_prod MLFLOW_FLASK_SERVER_SECRET_KEY "${MLOPS_MLFLOW_SECRET_KEY:-}"
# The pipeline (tasks, triggerer, the mlops CLI) signs in to MLflow as its own user.
_mlops_prod MLFLOW_TRACKING_USERNAME "${MLOPS_MLFLOW_USER:-}"
_mlops_prod MLFLOW_TRACKING_PASSWORD "${MLOPS_MLFLOW_PASSWORD:-}"

unset -f _mlops_prod
unset _mlops_pg
