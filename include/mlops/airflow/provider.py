"""The product as an Airflow provider: what ``airflow providers list`` shows and how links serialise.

Registered through the ``apache_airflow_provider`` entry point in ``pyproject.toml``. Airflow
reads it without importing the operators: it is plain data, checked against Airflow's
``provider_info.schema.json`` by a test. The plugin is not listed here: the ``airflow.plugins``
entry point registers it in every process (a second registration would be refused as a duplicate).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGE = "mlops-pipeline"
INTEGRATION = "MLOps pipeline"


def _version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


def get_provider_info() -> dict:
    """Provider metadata in the shape Airflow's providers manager expects."""
    return {
        "package-name": PACKAGE,
        "name": INTEGRATION,
        "description": (
            "Nightly ingestion, Great Expectations validation, drift detection, conditional retraining and "
            "gated promotion of scikit-learn models in MLflow's registry."
        ),
        "versions": [_version()],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["software"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["mlops.airflow.operators"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["mlops.airflow.sensors"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["mlops.airflow.triggers"]}],
        "extra-links": [
            "mlops.airflow.operators.MlflowModelVersionLink",
            "mlops.airflow.operators.MlflowRunLink",
            "mlops.airflow.operators.DriftReportLink",
            "mlops.airflow.operators.DataDocsLink",
        ],
        "notifications": [
            "mlops.alerts.notifiers.AlertNotifier",
            "mlops.alerts.notifiers.WebhookNotifier",
            "mlops.alerts.notifiers.EmailNotifier",
        ],
    }
