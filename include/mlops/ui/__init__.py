"""The Models page of the Airflow UI: data (overview) and HTML (page); the FastAPI app is in mlops.airflow.ui_app."""
