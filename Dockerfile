# The product's image: every Airflow component, the Celery workers and the MLflow server run from it
# (docker-compose.yaml). Installs exactly requirements.lock, the set the tests run against.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 airflow \
 && mkdir -p /opt/airflow /opt/mlops-data /opt/mlops-run /opt/mlflow/artifacts \
 && chown -R 50000:0 /opt/airflow /opt/mlops-data /opt/mlops-run /opt/mlflow

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow MLOPS_ROOT=/opt/mlops
WORKDIR /opt/mlops

COPY requirements.lock pyproject.toml ./
COPY include ./include
RUN pip install -r requirements.lock && pip install --no-deps . && python -m compileall -q "$(python -c 'import site; print(site.getsitepackages()[0])')"

COPY dags ./dags
COPY plugins ./plugins
COPY scripts ./scripts
COPY airflow_settings.yaml ./

USER 50000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
